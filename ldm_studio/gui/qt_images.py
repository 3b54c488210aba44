"""numpy ⇄ QImage, in one place.

The engine speaks numpy uint8 (H, W, 3) and PIL; Qt speaks QImage. Every conversion copies, so a QImage
never points into a numpy buffer that Python may free (the classic source of garbage previews).
QImage is safe to build in a worker thread; only QPixmap must be made in the GUI thread.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image
from PySide6.QtGui import QImage


def array_to_qimage(array: np.ndarray) -> QImage:
    """RGB (H, W, 3) or grey (H, W) uint8 array → a QImage that owns its pixels."""
    if array.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {array.dtype}")
    array = np.ascontiguousarray(array)
    if array.ndim == 2:
        height, width = array.shape
        image = QImage(array.data, width, height, array.strides[0], QImage.Format.Format_Grayscale8)
    elif array.ndim == 3 and array.shape[2] == 3:
        height, width = array.shape[:2]
        image = QImage(array.data, width, height, array.strides[0], QImage.Format.Format_RGB888)
    elif array.ndim == 3 and array.shape[2] == 4:
        height, width = array.shape[:2]
        image = QImage(array.data, width, height, array.strides[0], QImage.Format.Format_RGBA8888)
    else:
        raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {array.shape}")
    return image.copy()  # detach from the numpy buffer


def qimage_to_array(image: QImage) -> np.ndarray:
    """A QImage → RGB uint8 array (H, W, 3), alpha dropped."""
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    height, width = rgb.height(), rgb.width()
    # Scan lines are padded to 4 bytes: read with the real stride, then cut the padding off.
    buffer = np.frombuffer(rgb.constBits(), dtype=np.uint8, count=rgb.sizeInBytes())
    rows = buffer.reshape(height, rgb.bytesPerLine())
    return rows[:, : width * 3].reshape(height, width, 3).copy()


def pil_to_qimage(image: Any) -> QImage:
    """A PIL image (what `Result.images` holds) → QImage."""
    return array_to_qimage(np.asarray(image.convert("RGB")))


def qimage_to_pil(image: QImage) -> Image.Image:
    """A QImage → RGBA PIL image (alpha kept, so the mask rule for transparency still applies)."""
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    width, height = rgba.width(), rgba.height()
    rows = np.frombuffer(rgba.constBits(), np.uint8, count=rgba.sizeInBytes()).reshape(height, -1)
    return Image.fromarray(rows[:, : width * 4].reshape(height, width, 4).copy(), "RGBA")
