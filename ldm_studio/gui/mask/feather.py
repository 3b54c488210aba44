"""The feathered mask ("what the model will actually use"), in numpy, kept up to date by region. Qt-free.

It follows the inpainting pipeline's `feather_mask` (engine/pipelines/images.py, torch, which the GUI may not
import) step by step, and tests/gui/test_mask_feather.py holds the two to the same pixels:
with σ = blur_px / 2.5 and reach r = ceil(2.5 σ), shrink by a (2r+1)² square, Gaussian-blur with the
kernel cut at r (edge pixels repeated), then zero wherever the mask was zero. So the soft edge stays
inside the painted area. `grow_px` (disc, mask_ops.grow) is applied first.

Recomputing that over a 4096² mask takes about a second, far too slow per brush segment. It is
local: a change inside a rectangle moves the result at most `reach` pixels beyond it, and that
result depends only on the mask within `2 * reach` of the rectangle, so each change is redone there.
"""

from __future__ import annotations

import math

import numpy as np

from ldm_studio.gui.mask import ops as mask_ops
from ldm_studio.gui.mask import rect as mask_rect
from ldm_studio.gui.mask.rect import Rect


def blur_radius(blur_px: float) -> int:
    """Kernel half-width for a feather of `blur_px` (σ = blur_px / 2.5, cut at 2.5 σ)."""
    return max(1, math.ceil(blur_px)) if blur_px > 0 else 0


def feather_reach(blur_px: float, grow_px: int) -> int:
    """How far a change to one mask pixel can move the feathered mask."""
    return abs(grow_px) + 2 * blur_radius(blur_px)


def _gaussian_taps(blur_px: float) -> np.ndarray:
    sigma = blur_px / 2.5
    x = np.arange(-blur_radius(blur_px), blur_radius(blur_px) + 1, dtype=np.float64)
    taps = np.exp(-(x * x) / (2 * sigma * sigma))
    return (taps / taps.sum()).astype(np.float32)


def _blur_axis(values: np.ndarray, taps: np.ndarray, axis: int) -> np.ndarray:
    radius = len(taps) // 2
    pad = [(0, 0), (0, 0)]
    pad[axis] = (radius, radius)
    padded = np.pad(values, pad, mode="edge")
    size = values.shape[axis]
    out = np.zeros(values.shape, dtype=np.float32)
    for i, weight in enumerate(taps):
        window = padded[:, i : i + size] if axis == 1 else padded[i : i + size]
        out += weight * window
    return out


def _shrink_square(mask: np.ndarray, radius: int) -> np.ndarray:
    """Minimum over a (2r+1)² square, pixels outside the image ignored."""
    rows = mask.copy()
    for shift in range(1, radius + 1):
        np.minimum(rows[:, shift:], mask[:, :-shift], out=rows[:, shift:])
        np.minimum(rows[:, :-shift], mask[:, shift:], out=rows[:, :-shift])
    out = rows.copy()
    for shift in range(1, radius + 1):
        np.minimum(out[shift:], rows[:-shift], out=out[shift:])
        np.minimum(out[:-shift], rows[shift:], out=out[:-shift])
    return out


def _feather_core(shaped: np.ndarray, blur_px: float) -> np.ndarray:
    taps = _gaussian_taps(blur_px)
    shrunk = _shrink_square(shaped, blur_radius(blur_px)).astype(np.float32)
    soft = _blur_axis(_blur_axis(shrunk, taps, axis=1), taps, axis=0)
    soft[shaped == 0] = 0.0
    return np.clip(np.rint(soft), 0, 255).astype(np.uint8)


def feathered(mask: np.ndarray, blur_px: float, grow_px: int = 0) -> np.ndarray:
    """The mask as the model gets it (uint8, 255 = repaint)."""
    shaped = mask_ops.grow(mask, grow_px)
    bounds = mask_ops.content_bounds(shaped)
    if bounds is None or blur_px <= 0:
        return shaped
    # The result is zero outside the content; the content's neighbourhood is all the work needed.
    height, width = mask.shape
    work = mask_rect.clip(mask_rect.expand(bounds, 2 * blur_radius(blur_px) + 1), width, height)
    assert work is not None
    rows, cols = mask_rect.slices(work)
    result = np.zeros_like(shaped)
    result[rows, cols] = _feather_core(shaped[rows, cols], blur_px)
    return result


class FeatherPreview:
    def __init__(self, height: int, width: int) -> None:
        self.array = np.zeros((height, width), dtype=np.uint8)  # shared with the overlay: changed in place
        self.blur_px = 0.0
        self.grow_px = 0

    def recompute(self, mask: np.ndarray, blur_px: float, grow_px: int) -> None:
        self.blur_px, self.grow_px = blur_px, grow_px
        self.array[...] = feathered(mask, blur_px, grow_px)

    def update(self, mask: np.ndarray, changed: Rect) -> Rect | None:
        """Bring the preview up to date after `mask` changed inside `changed`; returns what moved."""
        height, width = mask.shape
        reach = feather_reach(self.blur_px, self.grow_px)
        out = mask_rect.clip(mask_rect.expand(changed, reach), width, height)
        work = mask_rect.clip(mask_rect.expand(changed, 2 * reach + 1), width, height)
        if out is None or work is None:
            return None
        local = feathered(mask[mask_rect.slices(work)], self.blur_px, self.grow_px)
        inner = (out[0] - work[0], out[1] - work[1], out[2] - work[0], out[3] - work[1])
        self.array[mask_rect.slices(out)] = local[mask_rect.slices(inner)]
        return out
