"""The canvas tool bar: brush / eraser, size, hardness, overlay look, mask operations, mask files.

It only calls the canvas's public API and follows its signals (brushChanged, historyChanged), so a
size changed with `[` `]` on the canvas moves the slider here too.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QColor, QIcon, QPixmap
from PySide6.QtWidgets import QColorDialog, QFileDialog, QLabel, QSlider, QSpinBox, QToolBar, QWidget

from ldm_studio.gui.canvas.input import MAX_BRUSH, MIN_BRUSH
from ldm_studio.gui.canvas.widget import Canvas

SIZE_STEPS = 1000  # the size slider is logarithmic: 1-10 px gets as much travel as 100-1000 px
PNG_FILTER = "PNG images (*.png);;All images (*.png *.jpg *.jpeg *.webp *.bmp)"


def size_to_slider(size: float) -> int:
    return round(SIZE_STEPS * math.log(size / MIN_BRUSH) / math.log(MAX_BRUSH / MIN_BRUSH))


def slider_to_size(position: int) -> float:
    return float(round(MIN_BRUSH * (MAX_BRUSH / MIN_BRUSH) ** (position / SIZE_STEPS)))


def _swatch(color: QColor) -> QIcon:
    pixmap = QPixmap(16, 16)
    pixmap.fill(color)
    return QIcon(pixmap)


def _set_quietly(slider: QSlider, value: int) -> None:
    # The canvas is the source of the value: do not echo a rounded slider value back to it.
    slider.blockSignals(True)
    slider.setValue(value)
    slider.blockSignals(False)


def _slider(low: int, high: int, tip: str) -> QSlider:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(low, high)
    slider.setFixedWidth(110)
    slider.setToolTip(tip)
    return slider


class CanvasToolbar(QToolBar):
    def __init__(self, canvas: Canvas, parent: QWidget | None = None) -> None:
        super().__init__("Mask", parent)
        self.canvas = canvas
        self._build_brush_controls()
        self.addSeparator()
        self._build_overlay_controls()
        self.addSeparator()
        self._build_mask_operations()
        self.addSeparator()
        self._build_history_and_files()
        canvas.brushChanged.connect(self._follow_brush)
        canvas.historyChanged.connect(self._follow_history)
        canvas.overlayChanged.connect(self._follow_overlay)
        self._follow_brush()
        self._follow_history()
        self._follow_overlay()

    def _action(self, text: str, slot, tip: str = "", checkable: bool = False) -> QAction:
        action = self.addAction(text)
        action.setToolTip(tip or text)
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        return action

    def _build_brush_controls(self) -> None:
        tools = QActionGroup(self)
        self.brush_action = self._action(
            "Brush", lambda: self.canvas.set_tool("brush"), "Paint the mask (B)", True
        )
        self.eraser_action = self._action(
            "Eraser", lambda: self.canvas.set_tool("eraser"), "Erase the mask (E)", True
        )
        tools.addAction(self.brush_action)
        tools.addAction(self.eraser_action)
        self.size_slider = _slider(0, SIZE_STEPS, "Brush size ([ and ])")
        self.size_slider.valueChanged.connect(lambda v: self.canvas.set_brush_size(slider_to_size(v)))
        self.size_label = QLabel()
        self.size_label.setMinimumWidth(48)
        self.hardness_slider = _slider(0, 100, "Brush hardness: 0 = soft edge, 100 = hard edge")
        self.hardness_slider.valueChanged.connect(lambda v: self.canvas.set_brush_hardness(v / 100))
        for widget in (
            QLabel(" Size "),
            self.size_slider,
            self.size_label,
            QLabel(" Hardness "),
            self.hardness_slider,
        ):
            self.addWidget(widget)

    def _build_overlay_controls(self) -> None:
        self.color_action = self._action("Colour", self._choose_color, "Mask overlay colour")
        self.opacity_slider = _slider(0, 100, "Mask overlay opacity")
        self.opacity_slider.valueChanged.connect(lambda v: self.canvas.set_overlay_opacity(v / 100))
        self.addWidget(self.opacity_slider)
        self.show_action = self._action(
            "Show", self.canvas.set_overlay_visible, "Show the mask overlay", True
        )
        self.feather_action = self._action(
            "Feathered", self._toggle_feather, "Show the mask the model will use (after grow and blur)", True
        )

    def _build_mask_operations(self) -> None:
        self._action("Clear", self.canvas.clear_mask, "Clear the mask")
        self._action("Fill", self.canvas.fill_mask, "Mask the whole image")
        self._action("Invert", self.canvas.invert_mask, "Swap masked and unmasked")
        self.grow_spin = QSpinBox()
        self.grow_spin.setRange(1, 256)
        self.grow_spin.setValue(8)
        self.grow_spin.setSuffix(" px")
        self.grow_spin.setToolTip("How far Grow and Shrink move the mask edge")
        self._action("Grow", lambda: self.canvas.grow_mask(self.grow_spin.value()), "Grow the mask")
        self._action("Shrink", lambda: self.canvas.shrink_mask(self.grow_spin.value()), "Shrink the mask")
        self.addWidget(self.grow_spin)

    def _build_history_and_files(self) -> None:
        # No shortcuts here: the canvas handles Ctrl+Z / Ctrl+Y itself while it has focus.
        self.undo_action = self._action("Undo", self.canvas.undo, "Undo (Ctrl+Z)")
        self.redo_action = self._action("Redo", self.canvas.redo, "Redo (Ctrl+Shift+Z, Ctrl+Y)")
        self._action("Fit", self.canvas.fit_to_window, "Fit the image to the window (Ctrl+0)")
        self._action("100%", self.canvas.zoom_to_100, "Actual pixels (Ctrl+1)")
        self.import_action = self._action(
            "Import mask…", self._import_mask, "Load a mask image (white = repaint)"
        )
        self.export_action = self._action("Export mask…", self._export_mask, "Save the mask as a PNG")

    # -- following the canvas -------------------------------------------------------------------

    def _follow_brush(self) -> None:
        brush = self.canvas.brush()
        (self.eraser_action if brush.erase else self.brush_action).setChecked(True)
        _set_quietly(self.size_slider, size_to_slider(brush.size))
        _set_quietly(self.hardness_slider, round(brush.hardness * 100))
        self.size_label.setText(f"{brush.size:g} px")

    def _follow_overlay(self) -> None:
        self.color_action.setIcon(_swatch(self.canvas.overlay_color()))
        _set_quietly(self.opacity_slider, round(self.canvas.overlay_opacity() * 100))
        self.show_action.setChecked(self.canvas.overlay_visible())
        self.feather_action.setChecked(self.canvas.feather_preview()[2])

    def _follow_history(self) -> None:
        self.undo_action.setEnabled(self.canvas.can_undo())
        self.redo_action.setEnabled(self.canvas.can_redo())

    # -- dialogs --------------------------------------------------------------------------------

    def _choose_color(self) -> None:
        color = QColorDialog.getColor(self.canvas.overlay_color(), self, "Mask overlay colour")
        if color.isValid():
            self.canvas.set_overlay_color(color)

    def _toggle_feather(self, enabled: bool) -> None:
        blur, grow, _ = self.canvas.feather_preview()
        self.canvas.set_feather_preview(blur, grow, enabled)

    def _import_mask(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import mask", "", PNG_FILTER)
        if path:
            self.canvas.import_mask_file(path)

    def _export_mask(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export mask", "mask.png", "PNG images (*.png)")
        if path:
            # The save dialog has already asked before replacing an existing file.
            self.canvas.export_mask_file(path, overwrite=True)
