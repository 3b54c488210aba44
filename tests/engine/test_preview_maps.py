"""Live previews use the model's own latent→RGB map: published, stored in the file, or fitted once."""

import numpy as np
import torch

from ldm_studio.engine.checkpoints.loading import load_model
from ldm_studio.engine.pipelines.preview_maps import preview_function
from tests.checkpoints import tiny_family, write_tiny_checkpoint


def test_a_stored_map_with_a_bias_row_is_used_as_is(tmp_path):
    channels = tiny_family("sd1").vae.embed_dim
    config = {"preview_rgb": [[0.0, 0.0, 0.0]] * channels + [[1.0, -1.0, 0.0]]}  # the last row is the bias
    model = load_model(write_tiny_checkpoint(tmp_path / "sd1.safetensors", "sd1", config=config))
    picture = preview_function(model)(torch.zeros(1, channels, 4, 4))
    assert picture.shape == (4, 4, 3)
    assert picture[0, 0].tolist() == [255, 0, 128]


def test_a_model_without_a_map_gets_one_fitted_from_its_own_autoencoder(tmp_path):
    model = load_model(write_tiny_checkpoint(tmp_path / "demo.safetensors", "demo"))
    assert model.config.preview_rgb is None
    red = torch.zeros(1, 3, 32, 32)
    red[:, 0] = 1.0
    red = red * 2 - 1  # pure red in [-1, 1]
    with torch.inference_mode():
        latents = model.vae.encode(red)
    picture = preview_function(model)(latents).astype(int)
    decoded = model.vae.decode(latents).float().clamp(-1, 1)
    expected = ((decoded[0].mean(dim=(1, 2)) + 1) * 127.5).round().int().tolist()
    assert np.abs(picture.reshape(-1, 3).mean(axis=0) - np.array(expected)).max() < 40
