"""Read the parts of an exported demo checkpoint back into training modules, to train further from it.

Run folders (`runs/`) are not kept between machines; the shipped `resources/models/*.safetensors` are.
These undo `export_models`: strip the original-layout prefixes, map the CLIP keys back, cast fp16 → fp32.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from ldm_studio.engine.nets.configs import TextEncoderConfig
from ldm_studio.engine.nets.text import text_state_dict_from_checkpoint

UNET_PREFIX = "model.diffusion_model."
AUTOENCODER_PREFIX = "first_stage_model."
TEXT_PREFIX = "cond_stage_model."


def exported_part(path: Path, prefix: str) -> dict[str, torch.Tensor]:
    """The tensors under `prefix`, with it stripped, as float32."""
    state = load_file(str(path))
    part = {k.removeprefix(prefix): v.float() for k, v in state.items() if k.startswith(prefix)}
    if not part:
        raise ValueError(f"{path}: no tensors under {prefix!r}")
    return part


def exported_text(path: Path, config: TextEncoderConfig) -> dict[str, torch.Tensor]:
    """The text encoder's weights in `TextEncoder(config).state_dict()` keys."""
    return text_state_dict_from_checkpoint(exported_part(path, TEXT_PREFIX), config)


def is_exported_checkpoint(path: Path) -> bool:
    """True for a whole model file (UNet keys present), False for a bare autoencoder file."""
    with open(path, "rb") as f:
        header_size = int.from_bytes(f.read(8), "little")
        return UNET_PREFIX.encode() in f.read(header_size)
