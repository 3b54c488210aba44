"""The canvas: shows the working image, lets the user paint the inpainting mask, shows live previews.

Public API (used by the main window and the canvas tool bar):

- image: `set_image(array)` (H, W, 3 uint8; resets the mask and history, fits the view), `image()`,
  `open_image_file(path) -> bool`; signal `imageChanged`.
- mask (H, W uint8, 255 = repaint): `mask()` (a copy), `set_mask(array)`, `clear_mask()`,
  `fill_mask()`, `invert_mask()`, `grow_mask(px)`, `shrink_mask(px)`, `import_mask_file(path) -> bool`
  (scaled with a notice if its size differs), `export_mask_file(path, overwrite=False) -> bool`;
  each change is one undo step; signal `maskChanged` once per finished stroke or operation.
- history: `undo()`, `redo()`, `can_undo()`, `can_redo()`, `undo_label()` / `redo_label()` (what the
  next undo / redo changes: "Brush stroke", "Result", …); signal `historyChanged`.
  Keys: Ctrl+Z, Ctrl+Shift+Z / Ctrl+Y. `place_image(array, mask=None, label="Result")` shows a new image
  as an undoable step (history_steps.py: the order of mask and image steps, and the memory bound).
- brush: `set_tool("brush" | "eraser")`, `set_brush_size(px)` (diameter in image pixels),
  `set_brush_hardness(0..1)`, `brush()`; keys `[` `]` size, B brush, E eraser; signal `brushChanged`.
  Tablet pressure scales the brush size when the pen reports it.
- overlay: `set_overlay_color(QColor)`, `set_overlay_opacity(0..1)`, `set_overlay_visible(bool)`;
  `set_feather_preview(blur_px, grow_px, enabled)` shows the mask the model will use instead;
  signal `overlayChanged`. The tool bar for all of this is canvas_toolbar.CanvasToolbar.
- previews: `show_preview(array or QImage, box)` draws a denoising preview scaled into box
  (left, top, right, bottom) in image pixels (None = whole image), `clear_preview()`.
- view: wheel zooms about the cursor; middle-drag or Space+drag pans; `fit_to_window()` (Ctrl+0),
  `zoom_to_100()` (Ctrl+1), `view()` / `set_view(View)`, `pan_by(dx, dy)`, `zoom_about(zoom, x, y)`,
  `map_to_image(x, y)`; signal `viewChanged`.
- strokes in image coordinates (what mouse and pen input do, input.py; also for scripts):
  `begin_stroke(x, y, pressure)`, `continue_stroke(...)`, `end_stroke()`.
- extra layers (sketch_tool.py, outpaint_handles.py): `add_layer(draw, image_space=True)` calls
  `draw(painter)` in every paint, in image coordinates over the image and under the mask, or (False)
  in widget coordinates on top; `repaint_image_rect(rect)` repaints image pixels a layer changed.
- messages: `errorOccurred(str)` for a file that could not be read or written (the canvas is left
  as it was), `noticeOccurred(str)` for information; both also show as a banner on the canvas.

Painting changes only the numpy mask and repaints only the widget rectangle it touched; the overlay
is a QImage over the mask's own memory (overlay.py), so no full-image conversion happens
per mouse move.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPixmap, QResizeEvent
from PySide6.QtWidgets import QWidget

from ldm_studio.engine import image_files
from ldm_studio.gui.canvas import painter as canvas_painter
from ldm_studio.gui.canvas.history_steps import ImageSteps, Snapshot, new_step
from ldm_studio.gui.canvas.input import MAX_BRUSH, MIN_BRUSH, CanvasInput
from ldm_studio.gui.canvas.overlay import MaskOverlay
from ldm_studio.gui.canvas.view import View, centred, fitted
from ldm_studio.gui.mask.brush import Brush
from ldm_studio.gui.mask.document import MaskDocument
from ldm_studio.gui.mask.rect import Rect
from ldm_studio.gui.qt_images import array_to_qimage


class Canvas(QWidget):
    maskChanged = Signal()
    imageChanged = Signal()
    historyChanged = Signal()
    brushChanged = Signal()
    viewChanged = Signal()
    overlayChanged = Signal()
    errorOccurred = Signal(str)
    noticeOccurred = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)  # the brush outline follows the mouse without a button held
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setAcceptDrops(True)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setMinimumSize(64, 64)
        self._image: np.ndarray | None = None
        self._pixmap: QPixmap | None = None
        self._document = MaskDocument(0, 0)
        self._overlay = MaskOverlay()
        self._brush = Brush(size=40.0, hardness=1.0)
        self._view = View()
        self._auto_fit = True  # keep fitting on resize until the user zooms or pans
        self._preview: QImage | None = None
        self._preview_box: Rect | None = None
        self._outline_at: QPointF | None = None  # brush outline centre, widget coordinates
        self._banner = canvas_painter.Banner(self, self.update)
        self._layers: dict[bool, list[Callable[[QPainter], None]]] = {True: [], False: []}
        self._input = CanvasInput(self)
        self._steps = ImageSteps()  # the images before (and after) this one: results as undoable steps

    # -- image ----------------------------------------------------------------------------------

    def set_image(self, image: np.ndarray) -> None:
        """Show a new working image: empty mask, empty history, no preview, view fitted."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
        self.end_stroke()
        self._steps.clear()
        self._image = np.array(image, copy=True)
        self._image.flags.writeable = False  # image() hands it out; nobody may change it behind us
        self._pixmap = QPixmap.fromImage(array_to_qimage(self._image))
        height, width = image.shape[:2]
        self._document = MaskDocument(height, width)
        self._overlay.attach(self._document.mask)
        self._preview, self._preview_box = None, None
        self.fit_to_window()
        self.update()
        self.imageChanged.emit()
        self.maskChanged.emit()
        self.historyChanged.emit()

    def image(self) -> np.ndarray | None:
        """The working image (read-only array), or None before one is set."""
        return self._image

    def open_image_file(self, path: str | os.PathLike[str], as_step: bool = False) -> bool:
        """Open an image file (`as_step`: as an undoable step); on failure show why, change nothing."""
        try:
            image = image_files.load_image(path)
        except image_files.ImageFileError as error:
            self._show_message(str(error), is_error=True)
            return False
        if as_step:
            self.place_image(image, label="Open image")
        else:
            self.set_image(image)
        return True

    # -- mask -----------------------------------------------------------------------------------

    def mask(self) -> np.ndarray:
        """A copy of the mask, (H, W) uint8, 255 = repaint; (0, 0) before an image is set."""
        return self._document.mask.copy()

    def set_mask(self, mask: np.ndarray) -> None:
        """Replace the mask (undoable). Boolean masks are accepted (True = repaint)."""
        if mask.dtype == np.bool_:
            mask = mask.astype(np.uint8) * 255
        if mask.dtype != np.uint8:
            raise ValueError(f"expected a uint8 or bool mask, got {mask.dtype}")
        self._mask_edited(self._document.replace(mask, "Set mask"))

    def clear_mask(self) -> None:
        self._mask_edited(self._document.clear())

    def fill_mask(self) -> None:
        self._mask_edited(self._document.fill())

    def invert_mask(self) -> None:
        self._mask_edited(self._document.invert())

    def grow_mask(self, pixels: int) -> None:
        self._mask_edited(self._document.grow(pixels))

    def shrink_mask(self, pixels: int) -> None:
        self._mask_edited(self._document.grow(-pixels))

    def import_mask_file(self, path: str | os.PathLike[str]) -> bool:
        """Load a mask image (white = repaint) as one undo step, scaled to the image if needed."""
        if self._image is None:
            self._show_message("Open an image before importing a mask", is_error=True)
            return False
        height, width = self._document.mask.shape
        try:
            mask, notice = image_files.load_mask_sized(path, width, height)
        except image_files.ImageFileError as error:
            self._show_message(str(error), is_error=True)
            return False
        if notice:
            self._show_message(notice, is_error=False)
        self._mask_edited(self._document.replace(mask, "Import mask"))
        return True

    def export_mask_file(self, path: str | os.PathLike[str], overwrite: bool = False) -> bool:
        """Save the mask as a greyscale PNG; an existing file is kept unless `overwrite`."""
        if self._image is None:
            self._show_message("There is no mask to export: open an image first", is_error=True)
            return False
        try:
            image_files.write_mask_png(path, self._document.mask, overwrite=overwrite)
        except image_files.ImageFileError as error:
            self._show_message(str(error), is_error=True)
            return False
        return True

    # -- history --------------------------------------------------------------------------------

    def undo(self) -> None:
        self.end_stroke()
        if not self._document.history.can_undo() and self._steps.can_undo():
            self._show_step(self._steps.undo(Snapshot(self._image, self._document)))
            return
        self._mask_edited(self._document.undo(), always_notify_history=True)

    def redo(self) -> None:
        self.end_stroke()
        if not self._document.history.can_redo() and self._steps.can_redo():
            self._show_step(self._steps.redo(Snapshot(self._image, self._document)))
            return
        self._mask_edited(self._document.redo(), always_notify_history=True)

    def can_undo(self) -> bool:
        return self._document.history.can_undo() or self._steps.can_undo()

    def can_redo(self) -> bool:
        return self._document.history.can_redo() or self._steps.can_redo()

    def undo_label(self) -> str | None:
        return self._document.history.undo_label() or self._steps.undo_label()

    def redo_label(self) -> str | None:
        return self._document.history.redo_label() or self._steps.redo_label()

    def place_image(self, image: np.ndarray, mask: np.ndarray | None = None, label: str = "Result") -> None:
        """Show a new image as one undoable step (Ctrl+Z brings back the image and mask before it).

        `mask` (same size) is the new image's starting mask, not a step of its own. An image of the same
        size as the one shown keeps the zoom and position; another size is fitted."""
        step = new_step(image, mask)
        self.end_stroke()
        if self._image is not None:
            self._steps.push(Snapshot(self._image, self._document), label)
        self._show_step(step)

    def _show_step(self, step: Snapshot) -> None:
        keep_view = self._image is not None and self._image.shape == step.image.shape and not self._auto_fit
        self._image, self._document = step.image, step.document
        self._pixmap = QPixmap.fromImage(array_to_qimage(self._image))
        self._overlay.attach(self._document.mask)
        blur, grow, feathered = self.feather_preview()
        self._overlay.set_feather(self._document.mask, blur, grow, feathered)
        self._preview, self._preview_box = None, None
        if not keep_view:
            self.fit_to_window()
        self.update()
        self.imageChanged.emit()
        self.maskChanged.emit()
        self.historyChanged.emit()

    # -- brush ----------------------------------------------------------------------------------

    def brush(self) -> Brush:
        return self._brush

    def tool(self) -> str:
        return "eraser" if self._brush.erase else "brush"

    def set_tool(self, tool: str) -> None:
        if tool not in ("brush", "eraser"):
            raise ValueError(f"unknown tool {tool!r}: expected 'brush' or 'eraser'")
        self._set_brush(replace(self._brush, erase=tool == "eraser"))

    def set_brush_size(self, size: float) -> None:
        self._set_brush(replace(self._brush, size=float(min(max(size, MIN_BRUSH), MAX_BRUSH))))

    def set_brush_hardness(self, hardness: float) -> None:
        self._set_brush(replace(self._brush, hardness=float(min(max(hardness, 0.0), 1.0))))

    def _set_brush(self, brush: Brush) -> None:
        if brush != self._brush:
            self._update_outline()
            self._brush = brush
            self._update_outline()
            self.brushChanged.emit()

    # -- overlay and previews -------------------------------------------------------------------

    def overlay_color(self) -> QColor:
        return QColor(self._overlay.color)

    def overlay_opacity(self) -> float:
        return self._overlay.opacity

    def overlay_visible(self) -> bool:
        return self._overlay.visible

    def set_overlay_color(self, color: QColor) -> None:
        self._overlay.set_tint(color, self._overlay.opacity)
        self._overlay_changed()

    def set_overlay_opacity(self, opacity: float) -> None:
        self._overlay.set_tint(self._overlay.color, opacity)
        self._overlay_changed()

    def set_overlay_visible(self, visible: bool) -> None:
        self._overlay.visible = bool(visible)
        self._overlay_changed()

    def feather_preview(self) -> tuple[float, int, bool]:
        return self._overlay.feather_blur, self._overlay.feather_grow, self._overlay.feather_enabled

    def set_feather_preview(self, blur_px: float, grow_px: int, enabled: bool) -> None:
        """Show the mask after grow (negative: shrink) and blur, as the model will get it."""
        self._overlay.set_feather(self._document.mask, blur_px, grow_px, enabled)
        self._overlay_changed()

    def _overlay_changed(self) -> None:
        self.update()
        self.overlayChanged.emit()

    def show_preview(self, image: np.ndarray | QImage, box: Rect | None = None) -> None:
        """Draw a live preview over the image, scaled into `box` (image pixels; None = whole)."""
        if self._image is None:
            return
        old = self._preview_box
        self._preview = image if isinstance(image, QImage) else array_to_qimage(image)
        height, width = self._image.shape[:2]
        self._preview_box = box if box is not None else (0, 0, width, height)
        self._update_image_rect(old)
        self._update_image_rect(self._preview_box)

    def clear_preview(self) -> None:
        old, self._preview, self._preview_box = self._preview_box, None, None
        self._update_image_rect(old)

    # -- view -----------------------------------------------------------------------------------

    def view(self) -> View:
        return self._view

    def set_view(self, view: View) -> None:
        self._auto_fit = False
        self._set_view(view)

    def zoom(self) -> float:
        return self._view.zoom

    def map_to_image(self, x: float, y: float) -> tuple[float, float]:
        """The image point a mouse event at widget pixel (x, y) paints at."""
        return self._view.mouse_to_image(x, y)

    def fit_to_window(self) -> None:
        self._auto_fit = True
        if self._image is not None:
            height, width = self._image.shape[:2]
            self._set_view(fitted(width, height, self.width(), self.height()))

    def zoom_to_100(self) -> None:
        self._auto_fit = False
        if self._image is not None:
            height, width = self._image.shape[:2]
            self._set_view(centred(width, height, self.width(), self.height(), 1.0))

    def pan_by(self, dx: float, dy: float) -> None:
        self.set_view(self._view.panned(dx, dy))

    def zoom_about(self, zoom: float, x: float, y: float) -> None:
        """Zoom keeping the image point at widget point (x, y) where it is."""
        self._update_outline()  # its on-screen size changes with the zoom
        self.set_view(self._view.zoomed(zoom, x, y))

    def _set_view(self, view: View) -> None:
        if view != self._view:
            self._view = view
            self.update()
            self.viewChanged.emit()

    # -- messages -------------------------------------------------------------------------------

    def message(self) -> str:
        """The message the banner shows now ('' when none)."""
        return self._banner.text

    def _show_message(self, text: str, is_error: bool) -> None:
        self._banner.show(text, is_error)
        (self.errorOccurred if is_error else self.noticeOccurred).emit(text)

    # -- painting the mask ----------------------------------------------------------------------

    def _mask_edited(self, changed: Rect | None, always_notify_history: bool = False) -> None:
        """After an operation, undo or redo: repaint, then tell listeners."""
        if changed is not None:
            if not always_notify_history:
                self._steps.drop_forward()  # a new edit: the images ahead are no longer reachable
            self._mask_region_changed(changed)
            self.maskChanged.emit()
        if changed is not None or always_notify_history:
            self.historyChanged.emit()

    def _mask_region_changed(self, changed: Rect | None) -> None:
        if changed is None:
            return
        self._update_image_rect(self._overlay.mask_changed(self._document.mask, changed))

    def add_layer(self, draw: Callable[[QPainter], None], image_space: bool = True) -> None:
        self._layers[image_space].append(draw)

    def repaint_image_rect(self, rect: Rect | None) -> None:
        self._update_image_rect(rect)

    def _update_image_rect(self, rect: Rect | None) -> None:
        if rect is not None:
            left, top, right, bottom = self._view.image_rect_to_widget(rect)
            self.update(QRect(left, top, right - left, bottom - top))

    def _update_outline(self) -> None:
        if self._outline_at is not None:
            radius = self._brush.radius() * self._view.zoom
            self.update(canvas_painter.outline_rect(self._outline_at, radius))

    def set_outline_at(self, centre: QPointF | None) -> None:
        """Where to draw the brush outline (widget coordinates); None hides it."""
        self._update_outline()
        self._outline_at = centre
        self._update_outline()

    # -- strokes in image coordinates (what the mouse and pen do; also for scripts) -------------

    def begin_stroke(self, x: float, y: float, pressure: float = 1.0) -> None:
        if self._image is not None:
            self._mask_region_changed(self._document.begin_stroke(self._brush, (x, y), pressure))

    def continue_stroke(self, x: float, y: float, pressure: float = 1.0) -> None:
        self._mask_region_changed(self._document.continue_stroke((x, y), pressure))

    def end_stroke(self) -> None:
        if self._document.end_stroke():
            self._steps.drop_forward()
            self.maskChanged.emit()
            self.historyChanged.emit()

    # -- Qt events ------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(event.rect(), canvas_painter.BACKGROUND)
        if self._pixmap is None:
            canvas_painter.draw_empty_hint(painter, self.rect())
        else:
            self._paint_layers(painter)
            if self._outline_at is not None:
                radius = self._brush.radius() * self._view.zoom
                canvas_painter.draw_brush_outline(painter, self._outline_at, radius)
            for draw in self._layers[False]:
                draw(painter)
        self._banner.draw(painter, self.rect())
        painter.end()

    def _paint_layers(self, painter: QPainter) -> None:
        view = self._view
        painter.save()
        painter.translate(view.offset_x, view.offset_y)
        painter.scale(view.zoom, view.zoom)
        # Smooth when shrinking; hard pixel edges from 2x up, so the user sees what they paint on.
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, view.zoom < 2.0)
        painter.drawPixmap(0, 0, self._pixmap)
        for draw in self._layers[True]:
            draw(painter)
        overlay = self._overlay.shown()
        if overlay is not None:
            painter.drawImage(0, 0, overlay)
        if self._preview is not None and self._preview_box is not None:
            left, top, right, bottom = self._preview_box
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            painter.drawImage(QRectF(left, top, right - left, bottom - top), self._preview)
        painter.restore()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._auto_fit:
            self.fit_to_window()
