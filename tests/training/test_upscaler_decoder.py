"""The upscaler's decoder trains below its full-resolution level, against the truth at half size."""

import numpy as np
import torch
from safetensors.torch import load_file

from ldm_studio.engine.checkpoints.demo_models import demo_model_path
from ldm_studio.engine.checkpoints.shapes import VAE_PREFIX
from ldm_studio.training import train_upscaler_decoder as trainer
from ldm_studio.training.crops import box_downsample
from ldm_studio.training.dataset import SIZES, held_out_scenes, render_scene
from ldm_studio.training.from_export import exported_part
from ldm_studio.training.sr_autoencoder import upsampling_autoencoder
from ldm_studio.training.tensors import to_model_range
from ldm_studio.training.train_autoencoder import AUTOENCODER, WEIGHTS


def _crops():
    """Two 64-pixel crops across the object's right and bottom edges, on the 4-pixel grid."""
    scene = next(s for s in held_out_scenes(per_triple=1, seed=4) if s.position == "center")
    truth = render_scene(scene, 512)
    cx, cy = (round(v * 128) * 4 for v in scene.centre)
    reach = round(SIZES[scene.size] * 128) * 4
    return np.stack(
        [
            truth[cy - 32 : cy + 32, cx + reach - 32 : cx + reach + 32],
            truth[cy + reach - 32 : cy + reach + 32, cx - 32 : cx + 32],
        ]
    )


def test_at_the_start_half_resolution_is_the_low_res_image_upsampled_by_nearest():
    torch.manual_seed(0)
    model = upsampling_autoencoder(AUTOENCODER).eval()
    crops = _crops()
    with torch.inference_mode():
        latents = trainer.low_res_latents(crops)
        half = trainer.half_resolution(model, latents)
        encoded = model.encode(to_model_range(crops))
    low = to_model_range(box_downsample(crops.astype(np.float32)))
    assert (encoded - latents).abs().max() < 0.01  # what the encoder itself gives
    assert (half - low.repeat_interleave(2, -1).repeat_interleave(2, -2)).abs().max() < 5e-3


def test_a_run_changes_only_the_blocks_below_the_full_resolution_level(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer, "UPSCALER_POOL", 2)  # rendering 512² images is the slow part
    trainer.main(["--out", str(tmp_path), "--steps", "2", "--batch", "2", "--lr", "1e-2"])
    torch.manual_seed(0)
    start = upsampling_autoencoder(AUTOENCODER).state_dict()
    trained = load_file(str(tmp_path / WEIGHTS))
    changed = {k for k in start if not torch.equal(start[k], trained[k])}
    assert changed, "two steps at lr 1e-2 changed nothing"
    allowed = ("decoder.mid.block_", "decoder.up.1.block.", "decoder.up.2.block.")
    assert all(k.startswith(allowed) for k in changed), sorted(changed)
    colour = [0, 3, 6]
    conv2 = trained["decoder.up.1.block.0.conv2.weight"]
    assert conv2[colour].abs().sum() > 0
    assert conv2[[c for c in range(conv2.shape[0]) if c not in colour]].abs().sum() == 0


def test_its_loss_is_against_the_truth_at_half_size():
    torch.manual_seed(0)
    model = upsampling_autoencoder(AUTOENCODER)
    crops = _crops()
    # A target that is already what the model gives at the start: nearest x2 of the low-res image.
    low = box_downsample(crops.astype(np.float32)).repeat(4, 1).repeat(4, 2)
    assert trainer.half_resolution_loss(model, low)["l2"] < 1e-5
    assert trainer.half_resolution_loss(model, crops)["l2"] > 1e-4  # edges are softer than the truth


def test_a_run_can_start_from_the_shipped_model_file(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer, "UPSCALER_POOL", 2)
    shipped = demo_model_path("upscale")
    trainer.main(
        ["--out", str(tmp_path), "--init", str(shipped), "--steps", "1", "--batch", "2", "--lr", "0"]
    )
    exported = exported_part(shipped, VAE_PREFIX)
    trained = load_file(str(tmp_path / WEIGHTS))
    assert exported.keys() == trained.keys()
    assert all(torch.equal(exported[k], trained[k]) for k in exported)  # lr 0: the shipped weights
