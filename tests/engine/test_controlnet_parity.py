"""Our ControlNet against diffusers' ControlNetModel on tiny random files in the original layout.

The file is read by our loader (both formats, both layouts); the reference is diffusers' model built by
its own single-file converter from the same tensors. Residuals: one per input block, and the middle one.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from ldm_studio.engine.adapters.controlnet_files import inspect_controlnet, load_controlnet
from ldm_studio.engine.nets.sdxl_embed import sdxl_vector
from tests.controlnets import tiny_controlnet_config, tiny_controlnet_state_dict, write_tiny_controlnet
from tests.engine.diffusers_controlnet import diffusers_controlnet

TOL = 1e-4


TIME_IDS = (128.0, 96.0, 0.0, 0.0, 128.0, 96.0)  # original (h, w), crop (top, left), target (h, w)


def _inputs(family: str, config):
    gen = torch.Generator().manual_seed(3)
    batch, size = 2, 16
    x = torch.randn(batch, 4, size, size, generator=gen)
    hint = torch.rand(1, 3, size * 8, size * 8, generator=gen)
    context = torch.randn(batch, 7, config.unet.context_dim, generator=gen)
    t = torch.tensor([999.0, 41.5])
    pooled = None
    if family == "sdxl":
        pooled = torch.randn(batch, config.unet.adm_in_channels - 6 * 256, generator=gen)
    return x, hint, t, context, pooled


def _reference(family, state, config, x, hint, t, context, pooled):
    reference = diffusers_controlnet(config, state)
    extra = {}
    if family == "sdxl":
        time_ids = torch.tensor([TIME_IDS] * x.shape[0])
        extra["added_cond_kwargs"] = {"text_embeds": pooled, "time_ids": time_ids}
    with torch.no_grad():
        down, mid = reference(
            x,
            t,
            encoder_hidden_states=context,
            controlnet_cond=hint.expand(x.shape[0], -1, -1, -1),
            return_dict=False,
            **extra,
        )
    return list(down), mid


@pytest.mark.parametrize(
    ("family", "suffix"),
    [("sd1", ".pth"), ("sd1", ".safetensors"), ("sd2", ".safetensors"), ("sdxl", ".safetensors")],
)
def test_residuals_match_diffusers(tmp_path, family, suffix):
    path = write_tiny_controlnet(tmp_path / f"control_v11p_sd15_canny{suffix}", family)
    loaded = load_controlnet(path, device=torch.device("cpu"), dtype=torch.float32)
    assert loaded.info.family == family and loaded.info.kind == "canny"
    config = tiny_controlnet_config(family)
    x, hint, t, context, pooled = _inputs(family, config)
    y = None
    if family == "sdxl":
        y = sdxl_vector(pooled, TIME_IDS[:2], TIME_IDS[2:4], TIME_IDS[4:])
    with torch.no_grad():
        down, mid = loaded.net(x, hint, t, context, y)
    ref_down, ref_mid = _reference(
        family, tiny_controlnet_state_dict(family), config, x, hint, t, context, pooled
    )
    assert len(down) == len(ref_down)
    for ours, theirs in zip(down, ref_down, strict=True):
        assert (ours - theirs).abs().max() <= TOL
    assert (mid - ref_mid).abs().max() <= TOL
    assert mid.abs().max() > 0.01  # the residuals carry signal


def test_diffusers_layout_file_loads_to_the_same_net(tmp_path):
    """An SDXL ControlNet saved as diffusers saves it (diffusion_pytorch_model.safetensors) reads back
    into the same weights as the original layout: our rename is the inverse of diffusers' converter."""
    state = tiny_controlnet_state_dict("sdxl")
    config = tiny_controlnet_config("sdxl")
    reference = diffusers_controlnet(config, state)
    folder = tmp_path / "controlnet-depth-sdxl-1.0"
    folder.mkdir()
    path = folder / "diffusion_pytorch_model.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    info = inspect_controlnet(path)
    assert (info.layout, info.family, info.kind) == ("diffusers", "sdxl", "depth")
    loaded = load_controlnet(path, device=torch.device("cpu"), dtype=torch.float32)
    ours = loaded.net.state_dict()
    assert set(ours) == set(state)
    assert all(torch.equal(ours[k], state[k]) for k in state)
