"""Outpainting on the canvas: grow the working image, pre-fill the new area, mask it for Inpaint.

`extend_working_image(canvas, left, right, top, bottom, fill=..., overlap=..., multiple=...)` checks the
size against the run limits first (each side ≤ 8192 px, ≤ 64 MP: engine/validation.py, listed in
docs/INPUT_LIMITS.md) and says the limit before anything changes; then the engine's pure
`pipelines/outpaint.extend_canvas` (numpy/PIL, no torch) makes the new image and its feathered mask,
which become the canvas image and mask. The window then switches to Inpaint, so Generate runs the
ordinary inpaint job on it. A sketch moves with the old image (SketchTool.expect_resize).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.validation import check_run_size
from ldm_studio.gui.canvas.widget import Canvas

SIDES = ("left", "right", "top", "bottom")
DEFAULT_OVERLAP = 32
DEFAULT_MULTIPLE = 8  # every model's latent grid is a divisor of 8 px; the pipeline pads to its own


def rounded_size(width: int, height: int, sides: dict[str, int], multiple: int) -> tuple[int, int]:
    """The canvas size extend_canvas makes: each axis rounded up to `multiple`."""
    grown_w = width + sides.get("left", 0) + sides.get("right", 0)
    grown_h = height + sides.get("top", 0) + sides.get("bottom", 0)
    return grown_w + (-grown_w) % multiple, grown_h + (-grown_h) % multiple


def check_extension(width: int, height: int, sides: dict[str, int], multiple: int) -> tuple[int, int]:
    """The new size, or InputError (one line) when nothing grows or the result could never run."""
    if any(value < 0 for value in sides.values()):
        raise InputError("Outpaint only grows the image: every side must be 0 or more pixels")
    if not any(sides.values()):
        raise InputError("Outpaint: choose how many pixels to add on at least one side")
    new_w, new_h = rounded_size(width, height, sides, multiple)
    try:
        check_run_size(new_w, new_h, 1)
    except InputError as error:
        raise InputError(f"Outpaint to {new_w}x{new_h} is not possible: {error}") from None
    return new_w, new_h


def extend_working_image(
    canvas: Canvas,
    sides: dict[str, int],
    *,
    fill: str = "edge",
    overlap: int = DEFAULT_OVERLAP,
    multiple: int = DEFAULT_MULTIPLE,
    sketch=None,
) -> tuple[int, int]:
    """Extend the canvas image by `sides` ({"left": px, ...}); returns the new (width, height).

    Raises InputError with one line (nothing changed) for no image, nothing to add or a size past the
    limits."""
    image = canvas.image()
    if image is None:
        raise InputError("Outpaint extends the working image: open or generate one first")
    height, width = image.shape[:2]
    check_extension(width, height, sides, multiple)
    # Not the engine's face, but numpy/PIL only: importing it leaves torch out (tests/gui/test_outpaint.py).
    from ldm_studio.engine.pipelines.outpaint import extend_canvas

    values = {side: int(sides.get(side, 0)) for side in SIDES}
    try:
        extended = extend_canvas(
            Image.fromarray(image), **values, fill=fill, overlap=int(overlap), multiple=multiple
        )
    except ValueError as error:
        raise InputError(str(error)) from None
    if sketch is not None:
        sketch.expect_resize(extended.box[0], extended.box[1])
    # One undoable step: Ctrl+Z brings back the image and mask from before the extension.
    canvas.place_image(np.asarray(extended.image), np.asarray(extended.mask), label="Outpaint")
    return extended.image.size


def to_size_sides(width: int, height: int, target_w: int, target_h: int, choice: str) -> dict[str, int]:
    """Per-side growth that makes a width x height image target_w x target_h: along each axis all of
    it on the one chosen side, else split evenly (the odd pixel to the right / bottom)."""
    if target_w < width or target_h < height:
        raise InputError(
            f"Outpaint to {target_w}x{target_h} would crop the {width}x{height} image: "
            "outpainting only grows it"
        )
    chosen = set(side_choice(choice))
    sides: dict[str, int] = {}
    for low, high, grow in (("left", "right", target_w - width), ("top", "bottom", target_h - height)):
        if (low in chosen) != (high in chosen):
            sides[low if low in chosen else high] = grow
        else:
            sides[low], sides[high] = grow // 2, grow - grow // 2
    return sides


SIDE_CHOICES = {
    "all sides": SIDES,
    "left": ("left",),
    "right": ("right",),
    "top": ("top",),
    "bottom": ("bottom",),
    "left and right": ("left", "right"),
    "top and bottom": ("top", "bottom"),
}


def side_choice(choice: str) -> tuple[str, ...]:
    return SIDE_CHOICES[choice]
