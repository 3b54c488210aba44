"""Antialiased drawing of one flat shape on a plain background (render 4× larger, then box-downsample)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

RGB = tuple[int, int, int]


def draw_shape(
    shape: str,
    colour: RGB,
    background: RGB,
    centre: tuple[float, float],
    half_extent: float,
    size: int,
    supersample: int = 4,
) -> np.ndarray:
    """A (size, size, 3) uint8 image; `centre` and `half_extent` are fractions of the image side.

    Box-averaging `supersample`² samples per pixel gives the soft edges a real camera would, so the
    autoencoder and the upscaler learn edges that look like what the text-to-image model makes.
    """
    big = size * supersample
    image = Image.new("RGB", (big, big), background)
    draw = ImageDraw.Draw(image)
    cx, cy, h = centre[0] * big, centre[1] * big, half_extent * big
    if shape == "circle":
        draw.ellipse((cx - h, cy - h, cx + h, cy + h), fill=colour)
    elif shape == "square":
        draw.rectangle((cx - h, cy - h, cx + h, cy + h), fill=colour)
    elif shape == "triangle":
        draw.polygon([(cx, cy - h), (cx + h, cy + h), (cx - h, cy + h)], fill=colour)
    else:
        raise ValueError(f"unknown shape {shape!r}; expected circle, square or triangle")
    return np.asarray(image.reduce(supersample))
