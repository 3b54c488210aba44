"""Whole-mask operations with numpy only: grow, shrink, Gaussian feather. Qt-free.

Grow and shrink use a round structuring element (a disc of radius N), so a grown square gets round
corners like in a paint program. Pixels outside the image are ignored rather than counted as empty,
so a mask that touches the border does not shrink away from it.

The feather is a Gaussian approximated by three box blurs (what PIL's GaussianBlur does, with its
radius being the standard deviation), which is how the inpainting pipeline softens the mask.

Every operation only works on the bounding box of the non-empty part of the mask (plus its reach),
because a typical mask covers a small part of a large image.
"""

from __future__ import annotations

import math

import numpy as np

from ldm_studio.gui import mask_rect
from ldm_studio.gui.mask_rect import Rect


def content_bounds(mask: np.ndarray) -> Rect | None:
    """The bounding box of the non-zero pixels, or None for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(axis=0))
    return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def dilate_disc(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grey-level dilation by a disc: each pixel becomes the maximum within `radius` of it."""
    if radius <= 0:
        return mask.copy()
    # A disc is a stack of horizontal runs: row offset dy has half-width floor(sqrt(r² - dy²)).
    # Widen the rows one pixel at a time and take each run width when its rows come up: O(r) passes.
    half_widths = [math.isqrt(radius * radius - dy * dy) for dy in range(radius + 1)]
    rows_max = mask.copy()
    out = np.zeros_like(mask)
    width = 0
    for dy in range(radius, -1, -1):
        while width < half_widths[dy]:
            width += 1
            if width < mask.shape[1]:
                np.maximum(rows_max[:, width:], mask[:, :-width], out=rows_max[:, width:])
                np.maximum(rows_max[:, :-width], mask[:, width:], out=rows_max[:, :-width])
        if dy == 0:
            np.maximum(out, rows_max, out=out)
        elif dy < mask.shape[0]:
            np.maximum(out[dy:], rows_max[:-dy], out=out[dy:])
            np.maximum(out[:-dy], rows_max[dy:], out=out[:-dy])
    return out


def erode_disc(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grey-level erosion by a disc (the dual of `dilate_disc`)."""
    return 255 - dilate_disc(255 - mask, radius)


def grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    """The mask grown by `pixels` (a negative count shrinks it). Returns a new array."""
    if pixels == 0:
        return mask.copy()
    bounds = content_bounds(mask)
    result = mask.copy()
    if bounds is None:
        return result
    height, width = mask.shape
    # Only pixels within reach of the content can change; the zero ring around it is included,
    # so shrinking sees the empty pixels next to the content as it would on the whole image.
    work = mask_rect.clip(mask_rect.expand(bounds, abs(pixels)), width, height)
    assert work is not None
    rows, cols = mask_rect.slices(work)
    op = dilate_disc if pixels > 0 else erode_disc
    result[rows, cols] = op(mask[rows, cols], abs(pixels))
    return result


def box_radius(sigma: float, passes: int = 3) -> float:
    """Radius of the 'extended' box blur that, applied `passes` times, gives a Gaussian of std `sigma`.

    The fractional part weights the two outermost pixels (Gwosdek et al. 2011), as Pillow does; whole
    radii alone are too coarse for the small blurs masks get.
    """
    variance = sigma * sigma / passes
    whole = math.floor((math.sqrt(12.0 * variance + 1.0) - 1.0) / 2.0)
    fraction = (2 * whole + 1) * (whole * (whole + 1) - 3 * variance) / (6 * (variance - (whole + 1) ** 2))
    return whole + fraction


def blur_reach(sigma: float, passes: int = 3) -> int:
    """How far (in pixels) the blur spreads a single pixel."""
    return 0 if sigma <= 0 else passes * (math.floor(box_radius(sigma, passes)) + 1)


def _running_sum_down(values: np.ndarray) -> np.ndarray:
    # A Python loop over rows beats np.cumsum(axis=0) tenfold: each step is one vectorized row add.
    sums = np.empty_like(values)
    sums[0] = values[0]
    for row in range(1, values.shape[0]):
        np.add(sums[row - 1], values[row], out=sums[row])
    return sums


def _box_blur_down(values: np.ndarray, radius: float) -> np.ndarray:
    """Extended box blur along axis 0, edge rows repeated beyond the border."""
    whole = math.floor(radius)
    fraction = np.float32(radius - whole)
    n = values.shape[0]
    # padded[k] = values[k - whole - 2], clamped; one extra row in front for the running sum.
    padded = np.pad(values, [(whole + 2, whole + 1), (0, 0)], mode="edge")
    sums = _running_sum_down(padded)
    out = sums[2 * whole + 2 : 2 * whole + 2 + n] - sums[1 : 1 + n]
    if fraction:
        out += fraction * (padded[1 : 1 + n] + padded[2 * whole + 3 : 2 * whole + 3 + n])
    out *= np.float32(1.0 / (2 * whole + 1 + 2 * fraction))
    return out


def _transposed(values: np.ndarray, block: int = 256) -> np.ndarray:
    # Block by block: a plain transposed copy of a large array thrashes the cache (twice as slow).
    height, width = values.shape
    out = np.empty((width, height), dtype=values.dtype)
    for top in range(0, height, block):
        for left in range(0, width, block):
            out[left : left + block, top : top + block] = values[top : top + block, left : left + block].T
    return out


def gaussian_blur(mask: np.ndarray, sigma: float, passes: int = 3) -> np.ndarray:
    """Blur with edge pixels repeated beyond the border. Returns a new uint8 array."""
    if sigma <= 0:
        return mask.copy()
    radius = box_radius(sigma, passes)
    values = mask.astype(np.float32)
    for _ in range(passes):
        values = _box_blur_down(values, radius)
    values = _transposed(values)
    for _ in range(passes):
        values = _box_blur_down(values, radius)
    values = _transposed(values)
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def feather_reach(blur_px: float, grow_px: int) -> int:
    """How far a change to one mask pixel can move the feathered mask."""
    return abs(grow_px) + blur_reach(blur_px)


def feathered(mask: np.ndarray, blur_px: float, grow_px: int) -> np.ndarray:
    """The mask the model uses: grown (or shrunk, if negative) by `grow_px`, then blurred."""
    shaped = grow(mask, grow_px)
    bounds = content_bounds(shaped)
    if bounds is None or blur_px <= 0:
        return shaped
    height, width = mask.shape
    work = mask_rect.clip(mask_rect.expand(bounds, blur_reach(blur_px) + 1), width, height)
    assert work is not None
    rows, cols = mask_rect.slices(work)
    result = np.zeros_like(shaped)
    result[rows, cols] = gaussian_blur(shaped[rows, cols], blur_px)
    return result
