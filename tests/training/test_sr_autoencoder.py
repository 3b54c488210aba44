"""The upscaler's autoencoder starts as an exact box-filter encoder and nearest-upsampling decoder, in the
original architecture, and normalises a crop as it does the whole image."""

import numpy as np
import torch

from ldm_studio.training.crops import box_downsample
from ldm_studio.training.dataset import held_out_scenes, render_scene
from ldm_studio.training.sr_autoencoder import (
    COLOUR_CHANNELS,
    confine_branch_outputs,
    trainable_parameters,
    upsampling_autoencoder,
)
from ldm_studio.training.tensors import to_model_range
from ldm_studio.training.train_autoencoder import AUTOENCODER, autoencoder_losses


def _model():
    torch.manual_seed(0)
    return upsampling_autoencoder(AUTOENCODER).eval()


def test_it_encodes_to_the_low_res_image_and_decodes_by_nearest_upsampling():
    model = _model()
    truth = render_scene(held_out_scenes(per_triple=1, seed=1)[0], 128)
    with torch.inference_mode():
        latents = model.encode(to_model_range(truth[None]))
        decoded = model.decode(latents)
    low = to_model_range(box_downsample(truth[None]).astype(np.float32).round().astype(np.uint8))
    assert latents.shape == (1, 4, 32, 32)
    assert (latents[:, :3] - low).abs().max() < 0.01 and latents[:, 3].abs().max() < 1e-3
    nearest = latents[:, :3].repeat_interleave(4, -1).repeat_interleave(4, -2)
    # GroupNorm's spread is the constant's up to a part in 10⁴: 0.3/255 off at most.
    assert (decoded - nearest).abs().max() < 5e-3


def test_a_crop_decodes_like_the_same_part_of_the_whole_image():
    model = _model()
    with torch.inference_mode():
        latents = model.encode(
            to_model_range(render_scene(held_out_scenes(per_triple=1, seed=2)[0], 128)[None])
        )
        whole = model.decode(latents)[..., 32:64, 48:96]
        crop = model.decode(latents[..., 8:16, 12:24])
    assert (whole - crop).abs().max() < 2e-3  # GroupNorm sees the same statistics either way


def test_training_moves_only_the_residual_branches_and_writes_only_colour_channels():
    model = _model().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trained = trainable_parameters(model)
    model.requires_grad_(False)
    for p in trained:
        p.requires_grad_(True)
    confine_branch_outputs(model)
    optimizer = torch.optim.Adam(trained, lr=1e-2)
    images = to_model_range(render_scene(held_out_scenes(per_triple=1, seed=3)[0], 128)[None, :64, :64])
    for _ in range(2):
        optimizer.zero_grad()
        autoencoder_losses(model, images, torch.Generator().manual_seed(0))["loss"].backward()
        optimizer.step()
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    in_blocks = (".block." in k or ".block_" in k for k in changed)  # up.N.block.M, mid.block_N
    assert changed and all(in_blocks) and all(k.startswith("decoder.") for k in changed)
    conv2 = model.decoder.up[0].block[0].conv2.weight
    others = [c for c in range(conv2.shape[0]) if c not in COLOUR_CHANNELS]
    assert conv2[list(COLOUR_CHANNELS)].abs().sum() > 0 and conv2[others].abs().sum() == 0
