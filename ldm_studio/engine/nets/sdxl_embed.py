"""SDXL's vector conditioning `y`: the pooled bigG text vector and the micro-conditioning scalars.

Each scalar (sizes and crop in pixels, the refiner's aesthetic score) becomes a 256-wide sinusoidal
embedding, cos half first, max period 10000 (sgm's ConcatTimestepEmbedderND; diffusers' `add_time_proj`,
Timesteps(256, flip_sin_to_cos=True, freq_shift=0)). The order is sgm's and diffusers' `add_time_ids`:
original (h, w), crop (top, left), then target (h, w) for the base, or the aesthetic score for the refiner.
Base: 1280 + 6 * 256 = 2816 wide; refiner: 1280 + 5 * 256 = 2560.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ldm_studio.engine.nets.unet_blocks import timestep_embedding

MICRO_EMBED_DIM = 256


def micro_conditioning(values: torch.Tensor) -> torch.Tensor:
    """[B, n] scalars -> [B, n * 256]: each scalar's sinusoidal embedding, concatenated in order."""
    batch, count = values.shape
    return timestep_embedding(values.reshape(-1), MICRO_EMBED_DIM).reshape(batch, count * MICRO_EMBED_DIM)


def _vector(pooled: torch.Tensor, scalars: Sequence[float]) -> torch.Tensor:
    values = torch.tensor([float(v) for v in scalars], dtype=torch.float32, device=pooled.device)
    embedded = micro_conditioning(values.expand(pooled.shape[0], -1))
    return torch.cat([pooled.to(torch.float32), embedded], dim=1)


def sdxl_vector(
    pooled: torch.Tensor,
    original_size: tuple[int, int],
    crop: tuple[int, int],
    target_size: tuple[int, int],
) -> torch.Tensor:
    """The base model's `y` [B, pooled + 1536] in float32 from the pooled text [B, 1280].

    Sizes are (height, width) in pixels, crop is (top, left); the same for every batch row.
    """
    return _vector(pooled, (*original_size, *crop, *target_size))


def sdxl_refiner_vector(
    pooled: torch.Tensor,
    original_size: tuple[int, int],
    crop: tuple[int, int],
    aesthetic_score: float,
) -> torch.Tensor:
    """The refiner's `y` [B, pooled + 1280] in float32: the target size is replaced by the aesthetic score
    (6.0 for the prompt, 2.5 for the negative by diffusers' and sgm's defaults)."""
    return _vector(pooled, (*original_size, *crop, aesthetic_score))
