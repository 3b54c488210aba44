"""The colour sketch on the canvas: which sketch tool is active, its mouse / pen / keys, its drawing.

`SketchTool(canvas)` owns a `SketchLayer` the size of the canvas image, draws it over the image (under
the mask overlay) and paints it while a sketch tool is active: "brush" (colour), "eraser", "picker"
(the eyedropper; Alt+click with the brush or eraser picks too). It is an event filter installed after
the canvas's own input, so Qt asks it first: with a sketch tool active it takes the left button, the pen,
Ctrl+Z / Ctrl+Shift+Z / Ctrl+Y (the sketch's own undo) and B / E / I; everything else (pan, zoom,
`[` `]` size, the brush outline) stays with the canvas. Brush size and hardness are the canvas brush's.

A new image of the same size hides the sketch (a result that already has it in: showing it again
would cover the result) and keeps it; a new size drops it, unless `expect_resize` said where the
old image went (outpainting), which moves the sketch with it.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QColor, QKeySequence, QPainter

from ldm_studio.gui.canvas.sketch_layer import SketchLayer
from ldm_studio.gui.canvas.widget import Canvas
from ldm_studio.gui.mask.rect import Rect

TOOLS = ("brush", "eraser", "picker")
LEFT = Qt.MouseButton.LeftButton
ALT, CTRL = Qt.KeyboardModifier.AltModifier, Qt.KeyboardModifier.ControlModifier
_TOOL_KEYS = {Qt.Key.Key_B: "brush", Qt.Key.Key_E: "eraser", Qt.Key.Key_I: "picker"}


MOVES_KEPT = 64  # extensions remembered for undo / redo (a few numbers each)


class SketchTool(QObject):
    toolChanged = Signal()  # the active sketch tool ("" = the mask tools have the canvas)
    colorChanged = Signal()
    historyChanged = Signal()
    sketchChanged = Signal()  # after a stroke, undo, redo, clear, load or resize
    visibilityChanged = Signal()
    resizeExpected = Signal(int, int)  # expect_resize's offset, for other layers that follow the image
    TOOLS = TOOLS
    HIDE_ON_NEW_IMAGE = True  # a same-size result already has the sketch in it

    def __init__(self, canvas: Canvas) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        self.layer = SketchLayer()
        self._tool = ""
        self._color = QColor(220, 40, 40)
        self._visible = True
        self.inpaint_sketch = False  # take the inpainting mask from the painted area
        self._painting = False
        self._space_held = False
        self._resize_offset: tuple[int, int] | None = None
        # Each extension so far: (old size, new size, offset of the old image), newest last, so that the
        # canvas's undo / redo of an outpaint takes the layer back and forth instead of dropping it.
        self._moves: list[tuple[tuple[int, int], tuple[int, int], tuple[int, int]]] = []
        canvas.add_layer(self._draw)
        canvas.imageChanged.connect(self._image_changed)
        canvas.installEventFilter(self)  # after CanvasInput's: Qt asks the last installed first
        self._image_changed()

    # -- state ----------------------------------------------------------------------------------

    def tool(self) -> str:
        return self._tool

    def set_tool(self, tool: str) -> None:
        """ "brush", "eraser", "picker", or "" to give the canvas back to the mask tools."""
        if tool and tool not in self.TOOLS:
            raise ValueError(f"unknown tool {tool!r}: expected one of {', '.join(self.TOOLS)}")
        self._end()
        if tool != self._tool:
            self._tool = tool
            if tool and not self._visible:
                self.set_visible(True)  # painting on a hidden layer would be painting blind
            self.canvas.setCursor(Qt.CursorShape.CrossCursor)
            self.toolChanged.emit()

    def color(self) -> QColor:
        return QColor(self._color)

    def set_color(self, color: QColor) -> None:
        if color.isValid() and color.rgb() != self._color.rgb():
            self._color = QColor(color.red(), color.green(), color.blue())
            self.colorChanged.emit()

    def visible(self) -> bool:
        return self._visible

    def set_visible(self, visible: bool) -> None:
        if bool(visible) != self._visible:
            self._visible = bool(visible)
            self.canvas.update()
            self.visibilityChanged.emit()

    def applies(self) -> bool:
        """Whether the sketch goes into the next request: shown and not empty (what you see is sent)."""
        return self._visible and not self.layer.is_empty() and self.canvas.image() is not None

    def expect_resize(self, x: int, y: int) -> None:
        """The next new image is the current one extended, with the old one at (x, y)."""
        self._resize_offset = (x, y)
        self.resizeExpected.emit(x, y)

    # -- operations -----------------------------------------------------------------------------

    def undo(self) -> None:
        self._changed(self.layer.undo(), history=True)

    def redo(self) -> None:
        self._changed(self.layer.redo(), history=True)

    def clear(self) -> None:
        self._changed(self.layer.clear())

    def pick(self, x: float, y: float) -> bool:
        """The eyedropper: take the colour the canvas shows at image point (x, y) (image + sketch)."""
        image = self.canvas.image()
        ix, iy = int(x), int(y)
        if image is None or not (0 <= ix < image.shape[1] and 0 <= iy < image.shape[0]):
            return False
        r, g, b = (int(v) for v in image[iy, ix])
        if self._visible:
            sr, sg, sb, a = self.layer.pixel_rgb(ix, iy)
            r, g, b = ((s * a + v * (255 - a) + 127) // 255 for s, v in ((sr, r), (sg, g), (sb, b)))
        self.set_color(QColor(r, g, b))
        return True

    def _changed(self, rect: Rect | None, history: bool = False) -> None:
        if rect is not None:
            self.canvas.repaint_image_rect(rect)
            self.sketchChanged.emit()
        if rect is not None or history:
            self.historyChanged.emit()

    def _image_changed(self) -> None:
        image = self.canvas.image()
        height, width = image.shape[:2] if image is not None else (0, 0)
        offset, self._resize_offset = self._resize_offset, None
        if (height, width) == (self.layer.height, self.layer.width):
            if self.HIDE_ON_NEW_IMAGE and not self.layer.is_empty():
                self.set_visible(False)  # a result that has the sketch in it: keep it, hidden
            return
        size = (self.layer.height, self.layer.width)
        if offset is not None:
            self._moves = [*self._moves[-(MOVES_KEPT - 1) :], (size, (height, width), offset)]
        else:
            offset = self._undone_or_redone_move(size, (height, width))
        self.layer.resize(height, width, offset)
        self.sketchChanged.emit()
        self.historyChanged.emit()

    def _undone_or_redone_move(self, size: tuple[int, int], new: tuple[int, int]) -> tuple[int, int] | None:
        """The offset that takes the layer from `size` to `new` when that is an extension undone (back to
        the size before it: the old part is cut out again) or redone; None for any other new image."""
        for before, after, (x, y) in reversed(self._moves):
            if (size, new) == (after, before):
                return -x, -y
            if (size, new) == (before, after):
                return x, y
        return None

    # -- drawing --------------------------------------------------------------------------------

    def _draw(self, painter: QPainter) -> None:
        if self._visible and self.layer.qimage is not None:
            painter.drawImage(0, 0, self.layer.qimage)

    # -- input ----------------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space_held = kind == QEvent.Type.KeyPress
            return False  # the canvas pans
        if not self._tool:
            return False
        if kind == QEvent.Type.MouseButtonPress:
            if event.button() != LEFT or self._space_held or self._painting:
                return False
            x, y = self.canvas.map_to_image(event.position().x(), event.position().y())
            return self._press(x, y, 1.0, bool(event.modifiers() & ALT))
        if kind == QEvent.Type.MouseMove and self._painting:
            x, y = self.canvas.map_to_image(event.position().x(), event.position().y())
            self._changed(self.layer.continue_stroke((x, y)))
            return False  # the canvas still moves the brush outline
        if kind == QEvent.Type.MouseButtonRelease and event.button() == LEFT and self._painting:
            self._end()
            return True
        if kind in (QEvent.Type.TabletPress, QEvent.Type.TabletMove, QEvent.Type.TabletRelease):
            return self._tablet(event)
        if kind in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress):
            action = self._key_action(event)
            if action is None:
                return False
            if kind == QEvent.Type.KeyPress:
                action()
            event.accept()  # an accepted ShortcutOverride keeps the window's Ctrl+Z (the mask's) from firing
            return True
        return False

    def _press(self, x: float, y: float, pressure: float, alt: bool) -> bool:
        if self._tool == "picker" or alt:
            self.pick(x, y)
            return True
        rgb = (self._color.red(), self._color.green(), self._color.blue())
        color = None if self._tool == "eraser" else rgb
        self._painting = True
        self._changed(self.layer.begin_stroke(self.canvas.brush(), color, (x, y), pressure))
        return True

    def _tablet(self, event: QEvent) -> bool:
        x, y = self.canvas.view().to_image(event.position().x(), event.position().y())
        pressure = float(event.pressure()) if event.pressure() > 0 else 1.0
        kind = event.type()
        if kind == QEvent.Type.TabletPress and not self._painting and not self._space_held:
            self._press(x, y, pressure, bool(event.modifiers() & ALT))
        elif kind == QEvent.Type.TabletMove and self._painting:
            self._changed(self.layer.continue_stroke((x, y), pressure))
            return False
        elif kind == QEvent.Type.TabletRelease and self._painting:
            self._end()
        else:
            return False
        event.accept()
        return True

    def _end(self) -> None:
        if self._painting:
            self._painting = False
            if self.layer.end_stroke():
                self.sketchChanged.emit()
                self.historyChanged.emit()

    def _key_action(self, event: QEvent):
        if event.matches(QKeySequence.StandardKey.Undo):
            return self.undo
        if event.matches(QKeySequence.StandardKey.Redo) or (
            event.key() == Qt.Key.Key_Y and event.modifiers() & CTRL
        ):
            return self.redo
        tool = _TOOL_KEYS.get(event.key()) if not event.modifiers() & CTRL else None
        return (lambda: self.set_tool(tool)) if tool else None
