"""Rasterize one brush stroke segment into the mask, with a soft edge. Qt-free.

A segment is the capsule swept by a round brush from one mouse position to the next, so a fast
mouse move leaves no gaps and no dab spacing shows. Painting takes the maximum of old and new
coverage (erasing the minimum), which makes overlapping segments of one stroke merge smoothly
instead of darkening where they overlap.

Coordinates are continuous image coordinates: pixel (row i, column j) covers [j, j+1) x [i, i+1),
so its centre is (j + 0.5, i + 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ldm_studio.gui.mask import rect as mask_rect
from ldm_studio.gui.mask.rect import Rect

Point = tuple[float, float]
BLOCK = 48  # big brushes are painted block by block, skipping blocks wholly inside or outside


@dataclass(frozen=True)
class Brush:
    size: float = 40.0  # diameter in image pixels, at full pressure
    hardness: float = 1.0  # 1 = hard edge (one pixel of antialiasing); 0 = soft from the centre out
    erase: bool = False

    def radius(self, pressure: float = 1.0) -> float:
        # Never thinner than one pixel, so a light pen touch still paints something.
        return max(self.size * 0.5 * pressure, 0.5)


def coverage(distance: np.ndarray, radius: np.ndarray | float, hardness: float) -> np.ndarray:
    """Brush opacity in [0, 1] at `distance` from the stroke's centre line."""
    edge_width = np.maximum(np.asarray(radius, dtype=np.float32) * (1.0 - hardness), 1.0)
    # +0.5: a pixel whose centre is within half a pixel of the rim is still mostly inside the brush.
    t = np.clip((radius + 0.5 - distance) / edge_width, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)  # smoothstep: no visible ring where the soft edge starts


def _distance_to_segment(
    xs: np.ndarray, ys: np.ndarray, vx: np.float32, vy: np.float32
) -> tuple[np.ndarray, np.ndarray | float]:
    """Distance from points (relative to the segment start) to the segment, and where along it (0..1)."""
    length2 = float(vx * vx + vy * vy)
    if length2 == 0.0:
        return np.sqrt(xs * xs + ys * ys), 0.0
    along = np.clip((xs * vx + ys * vy) / np.float32(length2), 0.0, 1.0)
    dx, dy = xs - along * vx, ys - along * vy
    return np.sqrt(dx * dx + dy * dy), along


def _block_grid(box: Rect) -> list[Rect]:
    left, top, right, bottom = box
    return [
        (x, y, min(x + BLOCK, right), min(y + BLOCK, bottom))
        for y in range(top, bottom, BLOCK)
        for x in range(left, right, BLOCK)
    ]


def paint_segment(
    mask: np.ndarray,
    brush: Brush,
    start: Point,
    end: Point,
    pressure_start: float = 1.0,
    pressure_end: float = 1.0,
    start_painted: bool = False,
) -> Rect | None:
    """Paint (or erase) the segment into `mask` in place; returns the pixels it may have changed.

    Points may lie outside the image: the stroke is clipped at the border. Returns None when the
    segment does not touch the image at all. `start_painted` says the brush at `start` is already
    in the mask (the previous segment of the same stroke ended there), so pixels behind it are done.
    """
    height, width = mask.shape
    r0, r1 = brush.radius(pressure_start), brush.radius(pressure_end)
    box = mask_rect.around((start[0], end[0]), (start[1], end[1]), max(r0, r1))
    box = mask_rect.clip(box, width, height)
    if box is None:
        return None
    vx, vy = np.float32(end[0] - start[0]), np.float32(end[1] - start[1])
    blocks = _block_grid(box)
    if len(blocks) > 4:
        blocks = _blocks_needing_pixels(mask, brush, blocks, start, vx, vy, r0, r1, start_painted)
    else:
        blocks = [box]
    for block in blocks:
        _paint_pixels(mask, brush, block, start, vx, vy, r0, r1)
    return box


def _blocks_needing_pixels(
    mask: np.ndarray,
    brush: Brush,
    blocks: list[Rect],
    start: Point,
    vx: np.float32,
    vy: np.float32,
    r0: float,
    r1: float,
    start_painted: bool,
) -> list[Rect]:
    """A big brush: fill the blocks wholly inside it, drop those outside or already painted.

    Only blocks across the brush's rim (and ahead of `start` in a continuing stroke) are left.
    """
    corners = np.array(blocks, dtype=np.float32) - np.array([start[0], start[1]] * 2, dtype=np.float32)
    cx, cy = (corners[:, 0] + corners[:, 2]) / 2, (corners[:, 1] + corners[:, 3]) / 2
    distance, _ = _distance_to_segment(cx, cy, vx, vy)
    reach = BLOCK * 0.7072  # half a block's diagonal: bounds every pixel's distance from the centre's
    edge = max(max(r0, r1) * (1.0 - brush.hardness), 1.0)
    outside = distance - reach > max(r0, r1) + 0.5
    inside = distance + reach <= min(r0, r1) + 0.5 - edge
    if start_painted and vx * vx + vy * vy > 0:
        # Behind the start (every corner projects before it) the new coverage equals the old.
        ahead = [corners[:, i] * vx + corners[:, j] * vy for i in (0, 2) for j in (1, 3)]
        outside |= np.max(ahead, axis=0) <= 0
    for block in (b for b, full in zip(blocks, inside & ~outside, strict=True) if full):
        mask[block[1] : block[3], block[0] : block[2]] = 0 if brush.erase else 255
    return [b for b, skip in zip(blocks, outside | inside, strict=True) if not skip]


def _paint_pixels(
    mask: np.ndarray,
    brush: Brush,
    block: Rect,
    start: Point,
    vx: np.float32,
    vy: np.float32,
    r0: float,
    r1: float,
) -> None:
    left, top, right, bottom = block
    xs = np.arange(left, right, dtype=np.float32)[None, :] + np.float32(0.5 - start[0])
    ys = np.arange(top, bottom, dtype=np.float32)[:, None] + np.float32(0.5 - start[1])
    distance, along = _distance_to_segment(xs, ys, vx, vy)
    radius = r0 + (r1 - r0) * along if r1 != r0 else r0
    value = np.rint(coverage(distance, radius, brush.hardness) * 255.0).astype(np.uint8)
    region = mask[top:bottom, left:right]
    if brush.erase:
        np.minimum(region, 255 - value, out=region)
    else:
        np.maximum(region, value, out=region)
