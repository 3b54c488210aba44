"""A dropped or pasted image larger than the model's size: keep its size (only masked area) or scale it.

The image is shown at its own size straight away (nothing is lost); the offer bar then proposes, without
a dialog: "Keep size" (Inpaint repaints only the masked area, cropped around the mask at the model's
size, and pastes it back into the full image) or "Scale to W×H" (down to fit the model's size, each side
a multiple of 8, as one undoable canvas step that also sets Width and Height).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ldm_studio.engine.image_files import resize_mask

TOPIC = "size"
KEEP = "Keep size (only masked area)"
MULTIPLE = 8


def model_size(window) -> tuple[int, int]:
    """The chosen model's own size (what it was trained at), else the document's width × height."""
    entry = window.models.entry_for(window.document.model)
    if entry is not None and entry.default_size:
        return tuple(entry.default_size)
    return window.document.width, window.document.height


def scaled_size(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """The largest size of the same shape inside max_width × max_height, sides a multiple of 8."""
    scale = min(max_width / width, max_height / height, 1.0)

    def side(value: int) -> int:
        return max(MULTIPLE, int(value * scale) // MULTIPLE * MULTIPLE)

    return side(width), side(height)


def offer_size_choice(window, what: str) -> bool:
    """Offer the choice when the canvas image is larger than the model's size; True if offered."""
    image = window.canvas.image()
    if image is None:
        return False
    height, width = image.shape[:2]
    model_w, model_h = model_size(window)
    if width <= model_w and height <= model_h:
        window.offers.dismiss(TOPIC)
        return False
    new_w, new_h = scaled_size(width, height, model_w, model_h)

    def keep() -> None:
        window.document.inpaint_only_masked = True
        window.status.showMessage(
            f"Kept {width}×{height}: Inpaint repaints only the masked area at the model's size", 8000
        )

    def scale() -> None:
        current = window.canvas.image()
        if current is None or current.shape[:2] != (height, width):
            return  # the canvas moved on since the offer
        smaller = np.asarray(Image.fromarray(current).resize((new_w, new_h), Image.Resampling.LANCZOS))
        mask = window.canvas.mask()
        window.canvas.place_image(
            smaller, mask=resize_mask(mask, new_w, new_h) if mask.any() else None, label="Scale image"
        )
        window.document.width, window.document.height = new_w, new_h
        window.status.showMessage(f"Scaled to {new_w}×{new_h} (Ctrl+Z brings the full size back)", 8000)

    window.offers.offer(
        f"{what} is {width}×{height}, larger than the model's {model_w}×{model_h}.",
        [(KEEP, keep), (f"Scale to {new_w}×{new_h}", scale)],
        topic=TOPIC,
    )
    return True
