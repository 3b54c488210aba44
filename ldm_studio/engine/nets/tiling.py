"""Run an image-to-image network on overlapping tiles and blend them without seams.

The VAE's cost and memory grow with the image (its mid attention is quadratic in pixels), so large
images are encoded / decoded tile by tile. Neighbouring tiles overlap; inside an overlap each tile's
weight ramps linearly towards its edge, so the result changes smoothly from one tile to the next.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


def tile_starts(size: int, tile: int, overlap: int, align: int = 1) -> list[int]:
    """Start offsets of tiles of length `tile` covering [0, size), spaced evenly with at least `overlap`
    shared between neighbours; offsets are multiples of `align` (size and tile must be too)."""
    if size <= tile:
        return [0]
    count = math.ceil((size - overlap) / (tile - overlap))
    step = (size - tile) / (count - 1)
    return [align * round(i * step / align) for i in range(count)]


def _ramp(length: int, ramp: float, at_start: bool, at_end: bool, device: torch.device) -> torch.Tensor:
    """Per-pixel weight along one axis of a tile: 1 inside, falling linearly over `ramp` pixels towards
    edges shared with another tile (not at the image border, where nothing else covers the pixels)."""
    pos = torch.arange(length, dtype=torch.float32, device=device) + 0.5
    weight = torch.ones(length, dtype=torch.float32, device=device)
    if not at_start:
        weight = torch.minimum(weight, pos / ramp)
    if not at_end:
        weight = torch.minimum(weight, (length - pos) / ramp)
    return weight


def map_tiled(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    tile: int,
    overlap: int,
    scale: float,
    align: int = 1,
) -> torch.Tensor:
    """Apply `fn` to overlapping [tile, tile] crops of `x` [N, C, H, W] and blend the outputs.

    `fn` maps a crop of size (h, w) to one of size (h*scale, w*scale) (scale 8 for a KL-f8 decode, 1/8
    for its encode). Blending is accumulated in float32; the result has fn's dtype.
    """
    if not 0 <= overlap < tile:
        raise ValueError(f"tile overlap must be in [0, tile), got tile {tile}, overlap {overlap}")
    height, width = x.shape[-2:]
    rows, cols = tile_starts(height, tile, overlap, align), tile_starts(width, tile, overlap, align)
    ramp = max(overlap * scale, 1.0)
    out = weights = None
    for y0 in rows:
        for x0 in cols:
            piece = fn(x[..., y0 : y0 + tile, x0 : x0 + tile])
            if out is None:
                size = (round(height * scale), round(width * scale))
                out = torch.zeros(*piece.shape[:2], *size, dtype=torch.float32, device=piece.device)
                weights = torch.zeros(1, 1, *size, dtype=torch.float32, device=piece.device)
            ph, pw = piece.shape[-2:]
            oy, ox = round(y0 * scale), round(x0 * scale)
            wy = _ramp(ph, ramp, y0 == 0, y0 == rows[-1], piece.device)
            wx = _ramp(pw, ramp, x0 == 0, x0 == cols[-1], piece.device)
            weight = wy[:, None] * wx[None, :]
            out[..., oy : oy + ph, ox : ox + pw] += piece.float() * weight
            weights[..., oy : oy + ph, ox : ox + pw] += weight
            dtype = piece.dtype
    return (out / weights).to(dtype)
