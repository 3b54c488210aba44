"""Drawing helpers for the canvas's non-image parts: brush outline, message banner, empty-state hint."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QPointF, QRect, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QPen

BACKGROUND = QColor(48, 48, 52)
BANNER_MARGIN = 8
MESSAGE_MS = 5000


class Banner:
    """The message the canvas shows over its top for MESSAGE_MS; `repaint` is called when it changes."""

    def __init__(self, parent: QObject, repaint: Callable[[], None]) -> None:
        self.text, self.is_error = "", False
        self._repaint = repaint
        self._timer = QTimer(parent, singleShot=True, interval=MESSAGE_MS)
        self._timer.timeout.connect(lambda: self.show(""))

    def show(self, text: str, is_error: bool = False) -> None:
        self.text, self.is_error = text, is_error
        if text:
            self._timer.start()
        self._repaint()

    def draw(self, painter: QPainter, rect: QRect) -> None:
        if self.text:
            draw_banner(painter, rect, self.text, self.is_error)


def draw_brush_outline(painter: QPainter, centre: QPointF, radius: float) -> None:
    """A circle of the brush's real size, light with a dark rim so it shows on any image."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    # Hairlines, not one wide pen: a 3 px antialiased stroke of a 400 px brush costs 20x more.
    for color, offset in ((QColor(0, 0, 0, 170), 1.0), (QColor(255, 255, 255, 230), 0.0)):
        painter.setPen(QPen(color, 1.0))
        painter.drawEllipse(centre, radius + offset, radius + offset)
    painter.restore()


def outline_rect(centre: QPointF, radius: float) -> QRect:
    """The widget pixels `draw_brush_outline` may touch."""
    reach = radius + 3
    return QRectF(centre.x() - reach, centre.y() - reach, 2 * reach, 2 * reach).toAlignedRect()


def banner_rect(widget_rect: QRect) -> QRect:
    return QRect(BANNER_MARGIN, BANNER_MARGIN, widget_rect.width() - 2 * BANNER_MARGIN, 30)


def draw_banner(painter: QPainter, widget_rect: QRect, text: str, is_error: bool) -> None:
    """A message strip across the top of the canvas (errors in red)."""
    rect = banner_rect(widget_rect)
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(150, 30, 30, 230) if is_error else QColor(30, 30, 30, 220))
    painter.drawRoundedRect(rect, 6, 6)
    painter.setPen(QColor(255, 255, 255))
    painter.drawText(rect.adjusted(10, 0, -10, 0), Qt.AlignmentFlag.AlignVCenter, text)
    painter.restore()


def draw_empty_hint(painter: QPainter, widget_rect: QRect) -> None:
    painter.save()
    painter.setPen(QColor(170, 170, 170))
    painter.drawText(widget_rect, Qt.AlignmentFlag.AlignCenter, "Open an image or drop one here")
    painter.restore()
