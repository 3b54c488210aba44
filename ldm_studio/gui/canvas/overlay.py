"""The mask overlay as a QImage that reads the numpy mask directly, tinted by a colour table.

An 8-bit indexed QImage over the mask's own memory costs nothing per brush segment: painting changes
the array and the next paint event already sees it. The overlay colour and opacity live in the
256-entry colour table (index = mask value), so changing them never touches pixel data either.
This is the one place where a QImage deliberately shares a numpy buffer (qt_images.py copies): the
holder must keep the array alive, and never reallocate it, for as long as the QImage exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtGui import QColor, QImage, qRgba

from ldm_studio.gui.mask.feather import FeatherPreview
from ldm_studio.gui.mask.rect import Rect


def overlay_color_table(color: QColor, opacity: float) -> list[int]:
    """Mask value i → the colour at alpha i * opacity (non-premultiplied, as Qt colour tables are)."""
    r, g, b = color.red(), color.green(), color.blue()
    return [qRgba(r, g, b, round(i * opacity)) for i in range(256)]


@dataclass
class SharedMaskImage:
    """A QImage showing `array` (H, W uint8) without copying it; keeps the array alive."""

    array: np.ndarray
    image: QImage

    @classmethod
    def over(cls, array: np.ndarray, color_table: list[int]) -> SharedMaskImage:
        if array.dtype != np.uint8 or array.ndim != 2 or not array.flags.c_contiguous:
            raise ValueError("the overlay needs a C-contiguous (H, W) uint8 array")
        height, width = array.shape
        image = QImage(array.data, width, height, array.strides[0], QImage.Format.Format_Indexed8)
        image.setColorTable(color_table)
        return cls(array, image)

    def set_color_table(self, color_table: list[int]) -> None:
        self.image.setColorTable(color_table)


class MaskOverlay:
    """What the canvas tints over its image: the painted mask, or its feathered version (what the model
    will get), in one colour and opacity, shown or hidden. The canvas repaints and tells listeners."""

    def __init__(self) -> None:
        self.color = QColor(255, 48, 48)
        self.opacity = 0.5
        self.visible = True
        self.feather_enabled = False
        self.feather_blur, self.feather_grow = 4.0, 0
        self._feather = FeatherPreview(0, 0)
        self._layers: tuple[SharedMaskImage, SharedMaskImage] | None = None  # plain, feathered

    def attach(self, mask: np.ndarray) -> None:
        """Show `mask`: the document's own array, which must not be reallocated while it is shown."""
        height, width = mask.shape
        self._feather = FeatherPreview(height, width)
        table = overlay_color_table(self.color, self.opacity)
        self._layers = (SharedMaskImage.over(mask, table), SharedMaskImage.over(self._feather.array, table))

    def set_tint(self, color: QColor, opacity: float) -> None:
        self.color, self.opacity = QColor(color), float(min(max(opacity, 0.0), 1.0))
        table = overlay_color_table(self.color, self.opacity)
        for layer in self._layers or ():
            layer.set_color_table(table)

    def set_feather(self, mask: np.ndarray, blur_px: float, grow_px: int, enabled: bool) -> None:
        self.feather_blur, self.feather_grow, self.feather_enabled = float(blur_px), int(grow_px), enabled
        if enabled:
            self._feather.recompute(mask, self.feather_blur, self.feather_grow)

    def mask_changed(self, mask: np.ndarray, changed: Rect) -> Rect:
        """The image region to repaint after `changed` of the mask changed (wider when feathered)."""
        if self.feather_enabled:
            return self._feather.update(mask, changed) or changed
        return changed

    def shown(self) -> QImage | None:
        """The layer to draw over the image, or None when hidden."""
        if not self.visible or self._layers is None:
            return None
        return self._layers[1 if self.feather_enabled else 0].image
