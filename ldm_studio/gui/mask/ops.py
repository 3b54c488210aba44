"""Grow and shrink the mask with numpy only. Qt-free.

Both use a round structuring element (a disc of radius N), so a grown square gets round corners like
in a paint program. Pixels outside the image are ignored rather than counted as empty, so a mask that
touches the border does not shrink away from it. Work is limited to the bounding box of the non-empty
part of the mask plus N, because a typical mask covers a small part of a large image.
"""

from __future__ import annotations

import math

import numpy as np

from ldm_studio.gui.mask import rect as mask_rect
from ldm_studio.gui.mask.rect import Rect


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
