"""An SDXL-base-sized random-weight single file in the ORIGINAL layout, for the SDXL benchmark rows.

Key names and shapes come from our own networks built on the meta device (the same route the tiny test
files take): `model.diffusion_model.*` (UNet: 320 channels, mult 1,2,4, transformer depth 0,2,10,
context 2048, adm 2816, 64-wide heads), `conditioner.embedders.0.transformer.text_model.*` (CLIP-L, every
layer, the int64 position ids), `conditioner.embedders.1.model.*` (OpenCLIP bigG with `text_projection`
and `logit_scale`) and `first_stage_model.*` (the KL-f8 VAE). In fp16 it is ≈6.9 GB, like the released
`sd_xl_base_1.0.safetensors`.

The file is streamed: the safetensors header first, then one tensor at a time, so at most one tensor
(the largest is bigG's 49408×1280 token table, 126 MB in fp16) is in memory. Weights are normal with
std 0.02, norm scales 1 and biases 0: activations stay finite over a few sampling steps.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import struct
from pathlib import Path

import torch

from ldm_studio.engine.checkpoints.families import KNOWN_FAMILIES, Family
from ldm_studio.engine.checkpoints.shapes import UNET_PREFIX, VAE_PREFIX

CLIP_L_PREFIX = "conditioner.embedders.0."
BIGG_PREFIX = "conditioner.embedders.1."
WEIGHT_STD = 0.02
_SAFETENSORS_DTYPE = {torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32", torch.int64: "I64"}


@dataclasses.dataclass(frozen=True)
class Entry:
    shape: tuple[int, ...]
    dtype: torch.dtype


def sdxl_checkpoint_entries(family: Family | None = None, dtype: torch.dtype = torch.float16) -> dict:
    """{key: Entry} of every tensor of an SDXL base file of `family` (default: our `sdxl`), sorted by key.

    Built from our UNet, VAE and text towers on the meta device; the towers with every layer (real files
    hold the last layer too, which a penultimate context never reads)."""
    from ldm_studio.engine.nets.autoencoder import Autoencoder
    from ldm_studio.engine.nets.text import TextEncoder, text_state_dict_to_checkpoint
    from ldm_studio.engine.nets.unet import UNetModel

    family = family or KNOWN_FAMILIES["sdxl"]
    shapes: dict[str, tuple[int, ...]] = {}
    with torch.device("meta"):
        shapes |= {UNET_PREFIX + k: tuple(v.shape) for k, v in UNetModel(family.unet).state_dict().items()}
        shapes |= {VAE_PREFIX + k: tuple(v.shape) for k, v in Autoencoder(family.vae).state_dict().items()}
        for config, prefix in ((family.text, CLIP_L_PREFIX), (family.text2, BIGG_PREFIX)):
            full = dataclasses.replace(config, layer="last")
            text = text_state_dict_to_checkpoint(TextEncoder(full).state_dict(), full)
            shapes |= {prefix + k: tuple(v.shape) for k, v in text.items()}
    entries = {key: Entry(shape, dtype) for key, shape in shapes.items()}
    entries[BIGG_PREFIX + "model.logit_scale"] = Entry((), dtype)
    ids = (1, family.text.max_positions)
    entries[CLIP_L_PREFIX + "transformer.text_model.embeddings.position_ids"] = Entry(ids, torch.int64)
    return dict(sorted(entries.items()))


def _value(key: str, entry: Entry, generator: torch.Generator) -> torch.Tensor:
    """The random tensor for `key`: N(0, 0.02²) matrices / kernels / tables, norm scales 1, biases 0."""
    if entry.dtype == torch.int64:  # CLIP-L's position ids
        return torch.arange(entry.shape[-1], dtype=torch.int64).reshape(entry.shape)
    if key.endswith("logit_scale"):
        return torch.tensor(math.log(100.0), dtype=entry.dtype)  # OpenCLIP's trained value
    if len(entry.shape) >= 2:
        return torch.empty(entry.shape, dtype=entry.dtype).normal_(0.0, WEIGHT_STD, generator=generator)
    if key.endswith("weight"):  # a 1-D weight is a GroupNorm / LayerNorm scale
        return torch.ones(entry.shape, dtype=entry.dtype)
    return torch.zeros(entry.shape, dtype=entry.dtype)


def write_streamed(path: Path, entries: dict, seed: int = 0) -> int:
    """Write a safetensors file of `entries` ({key: Entry}), one tensor in memory at a time; its size."""
    header, offset = {}, 0
    for key, entry in entries.items():
        nbytes = math.prod(entry.shape) * entry.dtype.itemsize
        header[key] = {
            "dtype": _SAFETENSORS_DTYPE[entry.dtype],
            "shape": list(entry.shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # tensor data 8-byte aligned, as safetensors writes it
    generator = torch.Generator().manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")  # an interrupted write never leaves a valid-looking file
    with partial.open("wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        for key, entry in entries.items():
            tensor = _value(key, entry, generator)
            f.write(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
            del tensor
        f.flush()
        os.fsync(f.fileno())
    partial.replace(path)
    return path.stat().st_size


def write_sdxl_checkpoint(path: str | Path, family: Family | None = None, seed: int = 0) -> int:
    """Write an SDXL base single file of `family` (default: real SDXL base shapes, ≈6.9 GB fp16)."""
    return write_streamed(Path(path), sdxl_checkpoint_entries(family), seed)
