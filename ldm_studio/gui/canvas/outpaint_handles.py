"""Drag handles on the canvas edges that grow the image (outpainting).

A small bar sits just outside the middle of each image edge. Dragging one outward shows the new
canvas outline and how many pixels it adds (snapped to `multiple`); letting go calls
`extend(side, pixels)`. Dragging inward, or less than half a step, adds nothing. An event filter on
the canvas that claims only presses on a handle, so painting, panning and zooming are untouched.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen

from ldm_studio.gui.canvas.widget import Canvas

LONG, SHORT, GAP = 36.0, 10.0, 3.0  # handle size and its distance from the edge, widget pixels
GRAB = 4.0  # extra pixels around a handle that still grab it
_OUTWARD = {"left": (-1, 0), "right": (1, 0), "top": (0, -1), "bottom": (0, 1)}
_CURSORS = {
    "left": Qt.CursorShape.SizeHorCursor,
    "right": Qt.CursorShape.SizeHorCursor,
    "top": Qt.CursorShape.SizeVerCursor,
    "bottom": Qt.CursorShape.SizeVerCursor,
}


def snapped(pixels: float, multiple: int) -> int:
    """Image pixels dragged → the growth, a multiple of `multiple` (never negative)."""
    return max(0, round(pixels / multiple)) * multiple


class OutpaintHandles(QObject):
    def __init__(self, canvas: Canvas, extend: Callable[[str, int], None], multiple: int = 8) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        self.extend = extend
        self.multiple = multiple
        self.enabled = True
        self._drag: tuple[str, QPointF] | None = None  # side, where the press was
        self._growth = 0
        self._hover = ""
        canvas.add_layer(self._draw, image_space=False)
        canvas.installEventFilter(self)

    def set_enabled(self, enabled: bool) -> None:
        self.enabled = bool(enabled)
        self._drag = None
        self.canvas.update()

    def _image_rect(self) -> QRectF | None:
        image = self.canvas.image()
        if image is None:
            return None
        view = self.canvas.view()
        (x0, y0), (x1, y1) = view.to_widget(0, 0), view.to_widget(image.shape[1], image.shape[0])
        return QRectF(x0, y0, x1 - x0, y1 - y0)

    def handle_rects(self) -> dict[str, QRectF]:
        """Widget rectangles of the four handles (kept inside the widget when the image is larger)."""
        rect = self._image_rect()
        if rect is None:
            return {}
        visible = QRectF(self.canvas.rect()).adjusted(SHORT, SHORT, -SHORT, -SHORT)
        mid_x = min(max(rect.center().x(), visible.left()), visible.right())
        mid_y = min(max(rect.center().y(), visible.top()), visible.bottom())
        left = max(rect.left() - GAP - SHORT, 0.0)
        right = min(rect.right() + GAP, self.canvas.width() - SHORT)
        top = max(rect.top() - GAP - SHORT, 0.0)
        bottom = min(rect.bottom() + GAP, self.canvas.height() - SHORT)
        return {
            "left": QRectF(left, mid_y - LONG / 2, SHORT, LONG),
            "right": QRectF(right, mid_y - LONG / 2, SHORT, LONG),
            "top": QRectF(mid_x - LONG / 2, top, LONG, SHORT),
            "bottom": QRectF(mid_x - LONG / 2, bottom, LONG, SHORT),
        }

    def _side_at(self, point: QPointF) -> str:
        for side, rect in self.handle_rects().items():
            if rect.adjusted(-GRAB, -GRAB, GRAB, GRAB).contains(point):
                return side
        return ""

    def growth(self) -> int:
        """Image pixels the drag in progress would add (0 when none)."""
        return self._growth if self._drag else 0

    # -- events ---------------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if not self.enabled:
            return False
        kind = event.type()
        if kind == QEvent.Type.MouseButtonPress and event.button() == Qt.MouseButton.LeftButton:
            side = self._side_at(event.position())
            if side:
                self._drag, self._growth = (side, event.position()), 0
                self.canvas.set_outline_at(None)
                return True
        elif kind == QEvent.Type.MouseMove:
            if self._drag is not None:
                side, start = self._drag
                dx, dy = _OUTWARD[side]
                moved = (event.position().x() - start.x()) * dx + (event.position().y() - start.y()) * dy
                self._growth = snapped(moved / self.canvas.zoom(), self.multiple)
                self.canvas.update()
                return True
            self._set_hover(self._side_at(event.position()))
        elif kind == QEvent.Type.MouseButtonRelease and self._drag is not None:
            side, growth = self._drag[0], self._growth
            self._drag, self._growth = None, 0
            self.canvas.update()
            if growth > 0:
                self.extend(side, growth)
            return True
        return False

    def _set_hover(self, side: str) -> None:
        if side != self._hover:
            self._hover = side
            self.canvas.setCursor(_CURSORS[side] if side else Qt.CursorShape.CrossCursor)
            self.canvas.update()

    # -- drawing --------------------------------------------------------------------------------

    def _draw(self, painter: QPainter) -> None:
        if not self.enabled:
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        for side, rect in self.handle_rects().items():
            hot = side == self._hover or (self._drag is not None and self._drag[0] == side)
            painter.setPen(QPen(QColor(0, 0, 0, 180), 1.0))
            painter.setBrush(QColor(255, 200, 60) if hot else QColor(230, 230, 230, 200))
            painter.drawRoundedRect(rect, 3, 3)
        if self._drag is not None and self._growth > 0:
            self._draw_ghost(painter)
        painter.restore()

    def _draw_ghost(self, painter: QPainter) -> None:
        rect = self._image_rect()
        assert rect is not None and self._drag is not None
        side, reach = self._drag[0], self._growth * self.canvas.zoom()
        grown = {
            "left": rect.adjusted(-reach, 0, 0, 0),
            "right": rect.adjusted(0, 0, reach, 0),
            "top": rect.adjusted(0, -reach, 0, 0),
            "bottom": rect.adjusted(0, 0, 0, reach),
        }[side]
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(255, 200, 60), 1.5, Qt.PenStyle.DashLine))
        painter.drawRect(grown)
        painter.setPen(QColor(255, 255, 255))
        label = f"+{self._growth} px {side}"
        painter.drawText(grown.adjusted(6, 6, -6, -6), Qt.AlignmentFlag.AlignCenter, label)
