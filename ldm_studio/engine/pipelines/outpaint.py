"""Outpainting canvas: extend an RGB image, pre-fill the new area, and build its inpaint mask.

Pure numpy/PIL, no torch: the result feeds the ordinary inpaint job (9-channel models or blended latents).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

FILLS = ("edge", "blur", "noise")
MAX_SIDE = 16384  # the largest canvas side accepted; beyond it a one-line error, nothing made


@dataclass(frozen=True)
class OutpaintCanvas:
    image: Image.Image  # RGB, the old image pasted at (left, top), the new area pre-filled
    mask: Image.Image  # L, 255 on the new area, feathered back over the old image by the overlap
    box: tuple[int, int, int, int]  # where the old image lies: (x0, y0, x1, y1)


def _check(left: int, right: int, top: int, bottom: int, overlap: int, fill: str) -> None:
    for name, v in (("left", left), ("right", right), ("top", top), ("bottom", bottom), ("overlap", overlap)):
        if not isinstance(v, int) or v < 0:
            raise ValueError(f"outpaint {name} must be a whole number >= 0, got {v!r}")
    if left + right + top + bottom == 0:
        raise ValueError("outpaint needs at least one side to extend (left, right, top or bottom > 0)")
    if fill not in FILLS:
        raise ValueError(f"outpaint fill must be one of {', '.join(FILLS)}, got {fill!r}")


def extend_canvas(
    image: Image.Image,
    left: int = 0,
    right: int = 0,
    top: int = 0,
    bottom: int = 0,
    *,
    fill: str = "edge",
    overlap: int = 32,
    multiple: int = 8,
    seed: int = 0,
) -> OutpaintCanvas:
    """Extend `image` per side; round the canvas up to `multiple` by growing the new area only."""
    _check(left, right, top, bottom, overlap, fill)
    w, h = image.size
    # Round up by extending the new area only (right/bottom if extended there, else left/top), never cropping.
    for axis in ("x", "y"):
        size = w + left + right if axis == "x" else h + top + bottom
        extra = (-size) % multiple
        if axis == "x":
            right, left = (right + extra, left) if right or not left else (right, left + extra)
        else:
            bottom, top = (bottom + extra, top) if bottom or not top else (bottom, top + extra)
    cw, ch = w + left + right, h + top + bottom
    if cw > MAX_SIDE or ch > MAX_SIDE:
        raise ValueError(f"outpaint canvas {cw}x{ch} is larger than the {MAX_SIDE} px limit per side")
    old = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    # edge: replicate the border pixels outwards.
    canvas = np.pad(old, ((top, bottom), (left, right), (0, 0)), mode="edge")
    new = np.ones((ch, cw), dtype=bool)
    new[top : top + h, left : left + w] = False
    if fill == "blur":
        radius = max(8, max(left, right, top, bottom) // 2)
        blurred = np.asarray(Image.fromarray(canvas).filter(ImageFilter.GaussianBlur(radius)))
        canvas = np.where(new[..., None], blurred, canvas)
    elif fill == "noise":
        rng = np.random.default_rng(seed)
        mean = old.reshape(-1, 3).mean(0)
        noise = np.clip(mean + rng.normal(0, 64, (ch, cw, 3)), 0, 255).astype(np.uint8)
        canvas = np.where(new[..., None], noise, canvas)
    # Mask: 255 on the new area; over the old image it ramps from 255 at the seam to 0 `overlap` px inside,
    # only on the sides that were extended, so the seam is repainted softly.
    # Per side, the ramp depends on the distance to that edge only, and the smallest distance gives the
    # largest value: so the max of 1-D ramps over `overlap`-wide bands, not a distance map of the image
    # (seconds on a 4096² canvas), gives the same bytes.
    inner = np.zeros((h, w), dtype=np.uint8)
    if overlap:
        steps = min(overlap, max(h, w))
        ramp = np.round(np.clip(1.0 - np.arange(steps) / overlap, 0, 1) * 255).astype(np.uint8)
        kx, ky = min(steps, w), min(steps, h)
        if left:
            np.maximum(inner[:, :kx], ramp[None, :kx], out=inner[:, :kx])
        if right:
            np.maximum(inner[:, w - kx :], ramp[None, :kx][:, ::-1], out=inner[:, w - kx :])
        if top:
            np.maximum(inner[:ky], ramp[:ky, None], out=inner[:ky])
        if bottom:
            np.maximum(inner[h - ky :], ramp[:ky, None][::-1], out=inner[h - ky :])
    mask = np.full((ch, cw), 255, dtype=np.uint8)
    mask[top : top + h, left : left + w] = inner
    return OutpaintCanvas(
        Image.fromarray(canvas.astype(np.uint8, copy=False), "RGB"),
        Image.fromarray(mask, "L"),
        (left, top, left + w, top + h),
    )
