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

from ldm_studio.gui import mask_rect
from ldm_studio.gui.mask_rect import Rect

Point = tuple[float, float]


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


def paint_segment(
    mask: np.ndarray,
    brush: Brush,
    start: Point,
    end: Point,
    pressure_start: float = 1.0,
    pressure_end: float = 1.0,
) -> Rect | None:
    """Paint (or erase) the segment into `mask` in place; returns the pixels it may have changed.

    Points may lie outside the image: the stroke is clipped at the border. Returns None when the
    segment does not touch the image at all.
    """
    height, width = mask.shape
    r0, r1 = brush.radius(pressure_start), brush.radius(pressure_end)
    box = mask_rect.around((start[0], end[0]), (start[1], end[1]), max(r0, r1))
    box = mask_rect.clip(box, width, height)
    if box is None:
        return None
    left, top, right, bottom = box
    xs = np.arange(left, right, dtype=np.float32)[None, :] + np.float32(0.5 - start[0])
    ys = np.arange(top, bottom, dtype=np.float32)[:, None] + np.float32(0.5 - start[1])
    vx, vy = np.float32(end[0] - start[0]), np.float32(end[1] - start[1])
    length2 = float(vx * vx + vy * vy)
    if length2 > 0.0:
        along = np.clip((xs * vx + ys * vy) / np.float32(length2), 0.0, 1.0)
        dx, dy = xs - along * vx, ys - along * vy
        radius = r0 + (r1 - r0) * along
    else:
        dx, dy, radius = xs, ys, r0
    alpha = coverage(np.sqrt(dx * dx + dy * dy), radius, brush.hardness)
    value = np.rint(alpha * 255.0).astype(np.uint8)
    region = mask[top:bottom, left:right]
    if brush.erase:
        np.minimum(region, 255 - value, out=region)
    else:
        np.maximum(region, value, out=region)
    return box
