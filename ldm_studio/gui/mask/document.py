"""The mask being painted: the array, the stroke in progress and the undo history. Qt-free.

`MaskDocument.mask` is allocated once per image and only ever changed in place, because the canvas
shows it through a QImage that shares its memory. Every method that changes pixels returns the
rectangle it changed (or None), which is what the canvas repaints; each stroke and each operation
becomes one undo step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ldm_studio.gui.mask import ops as mask_ops
from ldm_studio.gui.mask import rect as mask_rect
from ldm_studio.gui.mask.brush import Brush, Point, paint_segment
from ldm_studio.gui.mask.rect import Rect
from ldm_studio.gui.mask.undo import DEFAULT_BUDGET_BYTES, EditRecorder, UndoStack


@dataclass
class _Stroke:
    brush: Brush
    recorder: EditRecorder
    last_point: Point
    last_pressure: float
    steady: bool = False  # the last segment kept one pressure, so the brush at its end is fully painted


class MaskDocument:
    def __init__(self, height: int, width: int, undo_budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self.mask = np.zeros((height, width), dtype=np.uint8)  # 255 = repaint
        self.history = UndoStack(undo_budget_bytes)
        self._stroke: _Stroke | None = None

    @property
    def height(self) -> int:
        return self.mask.shape[0]

    @property
    def width(self) -> int:
        return self.mask.shape[1]

    @property
    def stroking(self) -> bool:
        return self._stroke is not None

    # -- strokes --------------------------------------------------------------------------------

    def begin_stroke(self, brush: Brush, point: Point, pressure: float = 1.0) -> Rect | None:
        self.end_stroke()
        self._stroke = _Stroke(brush, EditRecorder(self.mask), point, pressure)
        return self._paint(point, pressure, continuing=False)

    def continue_stroke(self, point: Point, pressure: float = 1.0) -> Rect | None:
        if self._stroke is None:
            return None
        return self._paint(point, pressure, continuing=True)

    def end_stroke(self) -> bool:
        """Close the stroke as one undo step; True if it changed any pixel."""
        stroke, self._stroke = self._stroke, None
        if stroke is None:
            return False
        edit = stroke.recorder.finish("Eraser stroke" if stroke.brush.erase else "Brush stroke")
        if edit is not None:
            self.history.push(edit)
        return edit is not None

    def _paint(self, point: Point, pressure: float, continuing: bool) -> Rect | None:
        stroke = self._stroke
        assert stroke is not None
        last_point, last_pressure = stroke.last_point, stroke.last_pressure
        radius = stroke.brush.radius(max(pressure, last_pressure))
        stroke.recorder.touch(mask_rect.around((last_point[0], point[0]), (last_point[1], point[1]), radius))
        # A segment whose radius changed along it does not cover the whole brush at its end.
        start_painted = continuing and stroke.steady
        changed = paint_segment(
            self.mask, stroke.brush, last_point, point, last_pressure, pressure, start_painted
        )
        stroke.last_point, stroke.last_pressure = point, pressure
        stroke.steady = pressure == last_pressure
        return changed

    # -- whole-mask operations (each one undo step) ---------------------------------------------

    def replace(self, new_mask: np.ndarray, label: str) -> Rect | None:
        """Make the mask equal `new_mask` as one undo step; returns the changed rectangle."""
        if new_mask.shape != self.mask.shape:
            raise ValueError(f"mask shape {new_mask.shape} does not match the image {self.mask.shape}")
        self.end_stroke()
        changed = mask_ops.content_bounds(new_mask != self.mask)
        if changed is None:
            return None
        recorder = EditRecorder(self.mask)
        recorder.touch(changed)
        rows, cols = mask_rect.slices(changed)
        self.mask[rows, cols] = new_mask[rows, cols]
        edit = recorder.finish(label)
        assert edit is not None
        self.history.push(edit)
        return changed

    def clear(self) -> Rect | None:
        return self.replace(np.zeros_like(self.mask), "Clear mask")

    def fill(self) -> Rect | None:
        return self.replace(np.full_like(self.mask, 255), "Fill mask")

    def invert(self) -> Rect | None:
        return self.replace(255 - self.mask, "Invert mask")

    def grow(self, pixels: int) -> Rect | None:
        """Grow by `pixels` (negative: shrink)."""
        return self.replace(mask_ops.grow(self.mask, pixels), "Grow mask" if pixels > 0 else "Shrink mask")

    def undo(self) -> Rect | None:
        self.end_stroke()
        return self.history.undo(self.mask)

    def redo(self) -> Rect | None:
        self.end_stroke()
        return self.history.redo(self.mask)
