"""Tiny random ControlNets in the ORIGINAL layout (`control_model.*`), matching the tiny checkpoints' UNets.

`write_tiny_controlnet(path, "sd1")` writes a ControlNet whose encoder has the widths of
`tests.checkpoints.tiny_family("sd1").unet` (so it steers that tiny model), with the released hint block
(16-16-32-32-96-96-256, three stride-2 convs). Formats: ".safetensors", or ".pth" as lllyasviel's v1.1
files (a bare state dict through torch.save). "sdxl" matches tests.sdxl_checkpoints' tiny SDXL base.
The zero convs are random, not zero, so every residual carries signal and a wrong key changes outputs.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import torch

from ldm_studio.engine.nets.configs import ControlNetConfig

PREFIX = "control_model."


def tiny_controlnet_config(family: str) -> ControlNetConfig:
    """The ControlNet config for the tiny model of `family` ("sd1", "sd2", "sdxl")."""
    if family == "sdxl":
        from tests.sdxl_checkpoints import tiny_sdxl_parts

        unet = tiny_sdxl_parts("sdxl").unet
    else:
        from tests.checkpoints import tiny_family

        unet = tiny_family(family).unet
    return ControlNetConfig(unet=dataclasses.replace(unet, legacy=False))


def tiny_controlnet_state_dict(family: str, *, seed: int = 0) -> dict[str, torch.Tensor]:
    """Original-layout tensors without the prefix, fp32, random but not degenerate."""
    from ldm_studio.engine.nets.controlnet import ControlNet

    with torch.device("meta"):
        shapes = {k: v.shape for k, v in ControlNet(tiny_controlnet_config(family)).state_dict().items()}
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in sorted(shapes.items()):
        values = torch.randn(tuple(shape), generator=generator)
        if len(shape) >= 2:
            values.mul_(math.prod(shape[1:]) ** -0.5)
        elif key.endswith("weight"):
            values.mul_(0.1).add_(1)
        else:
            values.mul_(0.05)
        out[key] = values
    return out


def write_tiny_controlnet(
    path: str | Path, family: str = "sd1", *, seed: int = 0, dtype: torch.dtype = torch.float32
) -> Path:
    """Write the tiny ControlNet for `family` with `control_model.` keys; the suffix picks the format."""
    path = Path(path)
    sd = {
        PREFIX + k: v.to(dtype).contiguous() for k, v in tiny_controlnet_state_dict(family, seed=seed).items()
    }
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(sd, str(path))
    else:
        torch.save(sd, path)
    return path
