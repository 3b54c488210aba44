"""Read the parts of an exported demo checkpoint back into training modules, to train further from it.

Run folders (`runs/`) are not kept between machines; the shipped `resources/models/*.safetensors` are.
These undo `export_models`: strip the original-layout prefixes, map the CLIP keys back, cast fp16 → fp32.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open

from ldm_studio.engine.checkpoints.files import read_safetensors_header
from ldm_studio.engine.checkpoints.shapes import TEXT_PREFIX, UNET_PREFIX
from ldm_studio.engine.nets.configs import TextEncoderConfig
from ldm_studio.engine.nets.text import text_state_dict_from_checkpoint


def exported_part(path: Path, prefix: str) -> dict[str, torch.Tensor]:
    """The tensors under `prefix`, with it stripped, as float32 (only those are read)."""
    with safe_open(str(path), framework="pt", device="cpu") as f:
        names = [k for k in f.keys() if k.startswith(prefix)]  # noqa: SIM118 (the handle is no dict)
        part = {k.removeprefix(prefix): f.get_tensor(k).float() for k in names}
    if not part:
        raise ValueError(f"{path}: no tensors under {prefix!r}")
    return part


def exported_text(path: Path, config: TextEncoderConfig) -> dict[str, torch.Tensor]:
    """The text encoder's weights in `TextEncoder(config).state_dict()` keys."""
    return text_state_dict_from_checkpoint(exported_part(path, TEXT_PREFIX), config)


def is_exported_checkpoint(path: Path) -> bool:
    """True for a whole model file (UNet keys present), False for a bare autoencoder file."""
    tensors, _ = read_safetensors_header(Path(path))
    return any(name.startswith(UNET_PREFIX) for name in tensors)
