"""Turns mouse, pen, wheel, key and drop events on the canvas into canvas operations.

An event filter, so the canvas widget itself only draws and keeps state. Gestures:
left-drag paints (pen: with pressure), middle-drag or Space+left-drag pans, the wheel zooms about
the cursor (a touchpad's pixel scroll pans; Ctrl+scroll zooms), `[` `]` brush size, B / E brush /
eraser, Ctrl+Z undo, Ctrl+Shift+Z or Ctrl+Y redo, Ctrl+0 fit, Ctrl+1 100%, a dropped file opens.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import QEvent, QObject, QPointF, Qt
from PySide6.QtGui import QCursor, QInputDevice, QKeyEvent, QKeySequence

from ldm_studio.gui.canvas.view import View
from ldm_studio.gui.mask.brush import Brush

WHEEL_STEP = 1.25  # zoom factor per wheel notch
MIN_BRUSH, MAX_BRUSH = 1.0, 1000.0

LEFT, MIDDLE = Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton
CTRL = Qt.KeyboardModifier.ControlModifier


def next_brush_size(size: float, bigger: bool) -> float:
    """`]` / `[`: about 20% per press, and at least one pixel, so small brushes still change."""
    stepped = round(size * 1.2) if bigger else round(size / 1.2)
    if stepped == size:
        stepped = size + 1 if bigger else size - 1
    return float(min(max(stepped, MIN_BRUSH), MAX_BRUSH))


_HANDLERS: dict[QEvent.Type, str] = {
    QEvent.Type.MouseButtonPress: "_mouse_press",
    QEvent.Type.MouseMove: "_mouse_move",
    QEvent.Type.MouseButtonRelease: "_mouse_release",
    QEvent.Type.TabletPress: "_tablet",
    QEvent.Type.TabletMove: "_tablet",
    QEvent.Type.TabletRelease: "_tablet",
    QEvent.Type.Wheel: "_wheel",
    QEvent.Type.ShortcutOverride: "_shortcut_override",
    QEvent.Type.KeyPress: "_key_press",
    QEvent.Type.KeyRelease: "_key_release",
    QEvent.Type.Leave: "_leave",
    QEvent.Type.DragEnter: "_drag_enter",
    QEvent.Type.Drop: "_drop",
}


class CanvasOperations(Protocol):
    """What input drives on the canvas widget (canvas/widget.py's Canvas): declared here, so input.py
    needs no import of the widget that owns it."""

    def installEventFilter(self, watcher: QObject) -> None: ...
    def setCursor(self, cursor: QCursor | Qt.CursorShape) -> None: ...
    def open_image_file(self, path: str | os.PathLike[str]) -> bool: ...
    def undo(self) -> None: ...
    def redo(self) -> None: ...
    def brush(self) -> Brush: ...
    def set_tool(self, tool: str) -> None: ...
    def set_brush_size(self, size: float) -> None: ...
    def view(self) -> View: ...
    def zoom(self) -> float: ...
    def map_to_image(self, x: float, y: float) -> tuple[float, float]: ...
    def fit_to_window(self) -> None: ...
    def zoom_to_100(self) -> None: ...
    def pan_by(self, dx: float, dy: float) -> None: ...
    def zoom_about(self, zoom: float, x: float, y: float) -> None: ...
    def set_outline_at(self, centre: QPointF | None) -> None: ...
    def begin_stroke(self, x: float, y: float, pressure: float = 1.0) -> None: ...
    def continue_stroke(self, x: float, y: float, pressure: float = 1.0) -> None: ...
    def end_stroke(self) -> None: ...


class CanvasInput(QObject):
    def __init__(self, canvas: CanvasOperations) -> None:
        super().__init__(canvas)
        self._canvas = canvas
        self._gesture: str | None = None  # "paint" or "pan" while a button or the pen is down
        self._pan_from = QPointF()
        self._space_held = False
        canvas.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # Looked up on the class: during interpreter shutdown Qt may still deliver events after
        # this object's attributes are gone.
        name = _HANDLERS.get(event.type())
        return bool(name) and getattr(self, name)(event)

    # -- pointer --------------------------------------------------------------------------------

    def _mouse_press(self, event: QEvent) -> bool:
        if self._gesture is None:
            button = event.button()
            if button == MIDDLE or (button == LEFT and self._space_held):
                self._start_pan(event.position())
            elif button == LEFT:
                self._gesture = "paint"
                self._canvas.begin_stroke(
                    *self._canvas.map_to_image(event.position().x(), event.position().y())
                )
        return True

    def _mouse_move(self, event: QEvent) -> bool:
        position = event.position()
        if self._gesture == "pan":
            delta = position - self._pan_from
            self._pan_from = position
            self._canvas.pan_by(delta.x(), delta.y())
        elif self._gesture == "paint":
            self._canvas.continue_stroke(*self._canvas.map_to_image(position.x(), position.y()))
        self._follow(position)
        return True

    def _mouse_release(self, event: QEvent) -> bool:
        button = event.button()
        if (self._gesture == "pan" and button in (LEFT, MIDDLE)) or (
            self._gesture == "paint" and button == LEFT
        ):
            self._end_gesture()
            self._follow(event.position())
        return True

    def _tablet(self, event: QEvent) -> bool:
        """Pen input: like the left button, with the pen's pressure scaling the brush."""
        kind, position = event.type(), event.position()
        x, y = self._canvas.view().to_image(position.x(), position.y())  # pens report sub-pixel points
        has_pressure = event.pointingDevice().capabilities() & QInputDevice.Capability.Pressure
        pressure = float(event.pressure()) if has_pressure else 1.0
        if kind == QEvent.Type.TabletPress and self._gesture is None and not self._space_held:
            self._gesture = "paint"
            self._canvas.begin_stroke(x, y, pressure)
        elif kind == QEvent.Type.TabletMove and self._gesture == "paint":
            self._canvas.continue_stroke(x, y, pressure)
            self._follow(position)
        elif kind == QEvent.Type.TabletRelease and self._gesture == "paint":
            self._end_gesture()
        else:
            event.ignore()  # Qt then sends the matching mouse event (hover, pan)
            return False
        event.accept()
        return True

    def _wheel(self, event: QEvent) -> bool:
        pixels = event.pixelDelta()
        if not pixels.isNull() and not event.modifiers() & CTRL:
            self._canvas.pan_by(pixels.x(), pixels.y())
        elif notches := event.angleDelta().y() / 120.0:
            anchor = event.position()
            zoom = self._canvas.zoom() * WHEEL_STEP**notches
            self._canvas.zoom_about(zoom, anchor.x() + 0.5, anchor.y() + 0.5)  # the pixel under the mouse
        return True

    def _leave(self, event: QEvent) -> bool:
        self._canvas.set_outline_at(None)
        return False

    def _start_pan(self, position: QPointF) -> None:
        self._gesture, self._pan_from = "pan", position
        self._canvas.setCursor(Qt.CursorShape.ClosedHandCursor)
        self._canvas.set_outline_at(None)

    def _end_gesture(self) -> None:
        if self._gesture == "paint":
            self._canvas.end_stroke()
        self._gesture = None
        self._canvas.setCursor(
            Qt.CursorShape.OpenHandCursor if self._space_held else Qt.CursorShape.CrossCursor
        )

    def _follow(self, position: QPointF) -> None:
        """Move the brush outline; hidden while panning, where it would only be in the way."""
        panning = self._gesture == "pan" or self._space_held
        self._canvas.set_outline_at(None if panning else QPointF(position.x() + 0.5, position.y() + 0.5))

    # -- keys -----------------------------------------------------------------------------------

    def _action(self, event: QKeyEvent) -> Callable[[], None] | None:
        canvas, key = self._canvas, event.key()
        if event.matches(QKeySequence.StandardKey.Undo):
            return canvas.undo
        if event.matches(QKeySequence.StandardKey.Redo) or (key == Qt.Key.Key_Y and event.modifiers() & CTRL):
            return canvas.redo
        if event.modifiers() & CTRL:
            return {Qt.Key.Key_0: canvas.fit_to_window, Qt.Key.Key_1: canvas.zoom_to_100}.get(key)
        size = canvas.brush().size
        return {
            Qt.Key.Key_BracketLeft: lambda: canvas.set_brush_size(next_brush_size(size, bigger=False)),
            Qt.Key.Key_BracketRight: lambda: canvas.set_brush_size(next_brush_size(size, bigger=True)),
            Qt.Key.Key_B: lambda: canvas.set_tool("brush"),
            Qt.Key.Key_E: lambda: canvas.set_tool("eraser"),
        }.get(key)

    def _shortcut_override(self, event: QEvent) -> bool:
        # Claim our keys before window-wide shortcuts (an Edit ▸ Undo action) while the canvas has focus.
        if self._action(event) is not None or event.key() == Qt.Key.Key_Space:
            event.accept()
            return True
        return False

    def _key_press(self, event: QEvent) -> bool:
        if event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space_held = True
                self._canvas.set_outline_at(None)
                if self._gesture is None:
                    self._canvas.setCursor(Qt.CursorShape.OpenHandCursor)
            return True
        action = self._action(event)
        if action is None:
            return False
        action()
        return True

    def _key_release(self, event: QEvent) -> bool:
        if event.key() != Qt.Key.Key_Space or event.isAutoRepeat():
            return False
        self._space_held = False
        if self._gesture is None:
            self._canvas.setCursor(Qt.CursorShape.CrossCursor)
        return True

    # -- drops ----------------------------------------------------------------------------------

    def _drag_enter(self, event: QEvent) -> bool:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()
        return True

    def _drop(self, event: QEvent) -> bool:
        files = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self._canvas.open_image_file(files[0])
        return True
