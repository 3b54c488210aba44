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
