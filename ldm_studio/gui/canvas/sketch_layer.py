"""The colour sketch: a paint layer above the image, its strokes, its own undo, compositing. Qt-free
but for the QImage that shows it.

Pixels are premultiplied BGRA (H, W, 4) uint8: on a little-endian machine that is QImage's
Format_ARGB32_Premultiplied byte for byte, the format QPainter draws fastest, so the canvas shows the
array through a QImage over its own memory (as the mask overlay does) and a stroke segment costs only
the pixels it touched. Compositing premultiplied colour over the image is one multiply-add.

A stroke paints a per-stroke coverage (the mask brush's `paint_segment`, max-merged so overlapping
segments do not darken) and sets each changed pixel to `colour · c + before · (1 − c)` (eraser:
`before · (1 − c)`), where `before` is the layer as it was when the stroke began: the 256² tiles a
stroke touches are copied once, and their difference at the end is one undo step, stored and replayed
by the mask's UndoStack (gui/mask/undo.py) on a (H, W·4) view of the same bytes.
"""

from __future__ import annotations

import sys
import zlib
from dataclasses import dataclass, replace

import numpy as np
from PySide6.QtGui import QImage

from ldm_studio.gui.mask import rect as mask_rect
from ldm_studio.gui.mask.brush import Brush, Point, paint_segment
from ldm_studio.gui.mask.rect import Rect
from ldm_studio.gui.mask.undo import MaskEdit, TileDiff, UndoStack, tiles_touching

if sys.byteorder != "little":  # pragma: no cover - every machine we ship for is little-endian
    raise ImportError("the sketch layer's pixel layout assumes a little-endian machine")

BGR = (2, 1, 0)  # the RGB channels' indices in the stored BGRA order
ALPHA = 3


def _blend(base: np.ndarray, coverage: np.ndarray, colour: np.ndarray | None) -> np.ndarray:
    """Premultiplied `colour` (BGRA, alpha 255) over `base` at `coverage` (0-255); None = erase."""
    c = coverage.astype(np.uint32)[..., None]
    out = base.astype(np.uint32) * (255 - c)
    if colour is not None:
        out += colour.astype(np.uint32) * c
    return ((out + 127) // 255).astype(np.uint8)


@dataclass
class _Stroke:
    brush: Brush
    colour: np.ndarray | None  # BGRA uint8; None for the eraser
    last_point: Point
    last_pressure: float
    touched: set[Rect]
    steady: bool = False  # the last segment kept one pressure: the brush at its end is fully painted


class SketchLayer:
    """The sketch of one image size. `pixels` is None until something is painted or loaded."""

    STROKE_LABEL, ERASER_LABEL, CLEAR_LABEL = "Sketch stroke", "Sketch eraser", "Clear sketch"  # undo names

    def __init__(self, height: int = 0, width: int = 0) -> None:
        self.history = UndoStack()
        self._reset(height, width)

    def _reset(self, height: int, width: int) -> None:
        self.height, self.width = height, width
        self.pixels: np.ndarray | None = None
        self.qimage: QImage | None = None  # over `pixels`' memory: never reallocate them while shown
        self._base: np.ndarray | None = None  # the layer before the stroke, valid on touched tiles
        self._coverage: np.ndarray | None = None  # this stroke's brush coverage
        self._stroke: _Stroke | None = None
        self.history.clear()

    # -- storage --------------------------------------------------------------------------------

    def _ensure_pixels(self) -> np.ndarray:
        if self.pixels is None:
            self.pixels = np.zeros((self.height, self.width, 4), np.uint8)
            self.qimage = QImage(
                self.pixels.data,
                self.width,
                self.height,
                self.pixels.strides[0],
                QImage.Format.Format_ARGB32_Premultiplied,
            )
        return self.pixels

    def is_empty(self) -> bool:
        return self.pixels is None or not self.pixels[..., ALPHA].any()

    def resize(self, height: int, width: int, offset: tuple[int, int] | None = None) -> None:
        """A new size: the sketch so far moves to `offset` (x, y) in it, or is dropped when None.
        Either way the history starts again (its tiles were for the old size)."""
        old = None if offset is None or self.is_empty() else self.pixels
        self.end_stroke()
        self._reset(height, width)
        if old is not None:
            x, y = offset
            pixels = self._ensure_pixels()
            h, w = old.shape[:2]
            dst = mask_rect.clip((x, y, x + w, y + h), width, height)
            if dst is not None:
                rows, cols = mask_rect.slices(dst)
                pixels[rows, cols] = old[dst[1] - y : dst[3] - y, dst[0] - x : dst[2] - x]

    # -- strokes --------------------------------------------------------------------------------

    def begin_stroke(self, brush: Brush, rgb: tuple[int, int, int] | None, point: Point, pressure=1.0):
        """Start a stroke in colour `rgb` (None: erase); returns the changed rectangle or None."""
        self.end_stroke()
        if self.height == 0 or self.width == 0:
            return None
        pixels = self._ensure_pixels()
        if self._base is None:
            self._base = np.empty_like(pixels)
            self._coverage = np.zeros((self.height, self.width), np.uint8)
        colour = None if rgb is None else np.array([rgb[2], rgb[1], rgb[0], 255], np.uint8)
        self._stroke = _Stroke(replace(brush, erase=False), colour, point, pressure, set())
        return self._paint(point, pressure, continuing=False)

    def continue_stroke(self, point: Point, pressure: float = 1.0) -> Rect | None:
        return None if self._stroke is None else self._paint(point, pressure, continuing=True)

    def _paint(self, point: Point, pressure: float, continuing: bool) -> Rect | None:
        stroke, pixels, base, coverage = self._stroke, self.pixels, self._base, self._coverage
        assert stroke is not None and pixels is not None and base is not None and coverage is not None
        radius = stroke.brush.radius(max(pressure, stroke.last_pressure))
        reach = mask_rect.around((stroke.last_point[0], point[0]), (stroke.last_point[1], point[1]), radius)
        for tile in tiles_touching(reach, self.width, self.height):
            if tile not in stroke.touched:  # first touch: keep what was there for blending and undo
                stroke.touched.add(tile)
                rows, cols = mask_rect.slices(tile)
                base[rows, cols] = pixels[rows, cols]
        box = mask_rect.clip(reach, self.width, self.height)
        if box is None:
            stroke.last_point, stroke.last_pressure = point, pressure
            return None
        rows, cols = mask_rect.slices(box)
        before = coverage[rows, cols].copy()
        start_painted = continuing and stroke.steady  # lets a big brush skip what it covered already
        paint_segment(
            coverage, stroke.brush, stroke.last_point, point, stroke.last_pressure, pressure, start_painted
        )
        stroke.steady = pressure == stroke.last_pressure
        stroke.last_point, stroke.last_pressure = point, pressure
        # Only pixels whose coverage grew change: a big brush moving a little touches a thin crescent.
        ys, xs = np.nonzero(coverage[rows, cols] != before)
        if ys.size == 0:
            return None
        ys += box[1]
        xs += box[0]
        pixels[ys, xs] = _blend(base[ys, xs], coverage[ys, xs], stroke.colour)
        return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)

    def end_stroke(self) -> bool:
        """Close the stroke as one undo step; True if it changed any pixel."""
        stroke, self._stroke = self._stroke, None
        if stroke is None:
            return False
        pixels, base, coverage = self.pixels, self._base, self._coverage
        assert pixels is not None and base is not None and coverage is not None
        diffs = []
        for tile in sorted(stroke.touched, key=lambda t: (t[1], t[0])):
            rows, cols = mask_rect.slices(tile)
            coverage[rows, cols] = 0  # ready for the next stroke, at the cost of what this one touched
            diff = pixels[rows, cols] - base[rows, cols]  # uint8 wraps: the exact inverse on undo
            if diff.any():
                wide = (tile[0] * 4, tile[1], tile[2] * 4, tile[3])  # the tile in the (H, W*4) view
                diffs.append(TileDiff(wide, zlib.compress(diff.tobytes(), 1)))
        if diffs:
            label = self.ERASER_LABEL if stroke.colour is None else self.STROKE_LABEL
            self.history.push(MaskEdit(label, tuple(diffs)))
        return bool(diffs)

    # -- whole-layer changes, undo ----------------------------------------------------------------

    def replace_pixels(self, new: np.ndarray, label: str) -> Rect | None:
        """Make the layer equal `new` (premultiplied BGRA) as one undo step."""
        self.end_stroke()
        pixels = self._ensure_pixels()
        if new.shape != pixels.shape:
            raise ValueError(f"sketch shape {new.shape[:2]} does not match the image {pixels.shape[:2]}")
        diff = new - pixels
        flat = diff.reshape(self.height, self.width * 4)
        tiles = []
        for tile in tiles_touching((0, 0, self.width, self.height), self.width, self.height):
            wide = (tile[0] * 4, tile[1], tile[2] * 4, tile[3])
            part = flat[mask_rect.slices(wide)]
            if part.any():
                tiles.append(TileDiff(wide, zlib.compress(np.ascontiguousarray(part).tobytes(), 1)))
        if not tiles:
            return None
        pixels[...] = new
        self.history.push(MaskEdit(label, tuple(tiles)))
        return (0, 0, self.width, self.height)

    def clear(self) -> Rect | None:
        if self.pixels is None:
            return None
        return self.replace_pixels(np.zeros_like(self.pixels), self.CLEAR_LABEL)

    def undo(self) -> Rect | None:
        self.end_stroke()
        return self._unwide(self.history.undo(self._wide()) if self.pixels is not None else None)

    def redo(self) -> Rect | None:
        self.end_stroke()
        return self._unwide(self.history.redo(self._wide()) if self.pixels is not None else None)

    def _wide(self) -> np.ndarray:
        assert self.pixels is not None
        return self.pixels.reshape(self.height, self.width * 4)  # a view: undo changes the pixels

    @staticmethod
    def _unwide(rect: Rect | None) -> Rect | None:
        return None if rect is None else (rect[0] // 4, rect[1], -(-rect[2] // 4), rect[3])

    # -- reading --------------------------------------------------------------------------------

    def composite(self, image: np.ndarray) -> np.ndarray:
        """The RGB image with the sketch over it (what Image→Image and Inpaint get)."""
        if self.is_empty():
            return image.copy()
        assert self.pixels is not None
        alpha = self.pixels[..., ALPHA].astype(np.uint32)[..., None]
        colour = self.pixels[..., BGR].astype(np.uint32)
        return ((colour * 255 + image.astype(np.uint32) * (255 - alpha) + 127) // 255).astype(np.uint8)

    def painted_mask(self) -> np.ndarray:
        """255 where the sketch has any paint (the 'inpaint sketch' mask), else 0."""
        if self.pixels is None:
            return np.zeros((self.height, self.width), np.uint8)
        return np.where(self.pixels[..., ALPHA] > 0, 255, 0).astype(np.uint8)

    def pixel_rgb(self, x: int, y: int) -> tuple[int, int, int, int]:
        """Unpremultiplied (r, g, b, alpha) at one pixel."""
        if self.pixels is None:
            return (0, 0, 0, 0)
        b, g, r, a = (int(v) for v in self.pixels[y, x])
        if a == 0:
            return (0, 0, 0, 0)
        return (round(r * 255 / a), round(g * 255 / a), round(b * 255 / a), a)

    def to_rgba(self) -> np.ndarray:
        """Straight (unpremultiplied) RGBA (H, W, 4), for a PNG with alpha."""
        if self.pixels is None:
            return np.zeros((self.height, self.width, 4), np.uint8)
        alpha = self.pixels[..., ALPHA].astype(np.uint32)
        colour = self.pixels[..., BGR].astype(np.uint32)
        safe = np.maximum(alpha, 1)[..., None]
        rgb = np.minimum((colour * 255 + safe // 2) // safe, 255).astype(np.uint8)
        return np.dstack([rgb, self.pixels[..., ALPHA]])

    def set_rgba(self, rgba: np.ndarray, label: str = "Load sketch") -> Rect | None:
        """Replace the layer by straight RGBA pixels (a loaded PNG), as one undo step."""
        alpha = rgba[..., 3].astype(np.uint32)
        colour = (rgba[..., :3].astype(np.uint32) * alpha[..., None] + 127) // 255
        return self.replace_pixels(np.dstack([colour[..., ::-1], alpha]).astype(np.uint8), label)
