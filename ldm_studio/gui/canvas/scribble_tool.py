"""The scribble on the canvas: SketchTool's input, strokes and undo with white paint on its own layer.

Tools "scribble" and "eraser"; with one active it takes the left button, the pen and Ctrl+Z /
Ctrl+Shift+Z / Ctrl+Y (its own history, apart from the mask's and the sketch's); brush size keys stay
the canvas brush's. It is drawn over the image and the sketch, white at reduced opacity (the image
stays readable under it). A new result keeps it shown (it is a control input, not part of the
image); an outpaint moves it with the image, as the sketch.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtGui import QPainter

from ldm_studio.gui.canvas.scribble_layer import WHITE, ScribbleLayer
from ldm_studio.gui.canvas.sketch_tool import SketchTool
from ldm_studio.gui.canvas.widget import Canvas

SCRIBBLE_TOOLS = ("scribble", "eraser")
SHOWN_OPACITY = 0.75


class ScribbleTool(SketchTool):
    scribbleChanged = Signal()  # after a stroke, undo, redo, clear, import or resize
    TOOLS = SCRIBBLE_TOOLS
    HIDE_ON_NEW_IMAGE = False

    def __init__(self, canvas: Canvas) -> None:
        super().__init__(canvas)
        self.layer = ScribbleLayer()
        self.sketchChanged.connect(self.scribbleChanged)
        self._image_changed()

    def control_pixels(self) -> np.ndarray | None:
        """The (H, W, 3) uint8 white-on-black map at the image's size, shown or hidden (Show is only the
        display); None when empty."""
        if self.canvas.image() is None:
            return None
        return self.layer.control_pixels()

    def has_scribble(self) -> bool:
        return self.canvas.image() is not None and not self.layer.is_empty()

    def set_map(self, grey: np.ndarray) -> None:
        """Replace the scribble by an (H, W) uint8 grey map at the image's size (undoable)."""
        self._changed(self.layer.set_map(grey))
        self.set_visible(True)

    def _press(self, x: float, y: float, pressure: float, alt: bool) -> bool:
        self._painting = True
        colour = None if self._tool == "eraser" else WHITE
        self._changed(self.layer.begin_stroke(self.canvas.brush(), colour, (x, y), pressure))
        return True

    def _key_action(self, event):
        action = super()._key_action(event)
        # B / E / I are the sketch's tool keys: leave them to it.
        return action if action in (self.undo, self.redo) else None

    def _draw(self, painter: QPainter) -> None:
        if not self._visible or self.layer.qimage is None:
            return
        opacity = painter.opacity()
        painter.setOpacity(opacity * SHOWN_OPACITY)
        painter.drawImage(0, 0, self.layer.qimage)
        painter.setOpacity(opacity)
