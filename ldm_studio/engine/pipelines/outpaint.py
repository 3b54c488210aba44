"""Outpainting canvas: extend an RGB image, pre-fill the new area, and build its inpaint mask.

Pure numpy/PIL, no torch: the result feeds the ordinary inpaint job (9-channel models or blended latents).
`outpaint_request` turns a request holding the old image into that inpaint request; `with_detail` switches
on "only masked area" when the canvas is larger than the model's native size, so a big photo is worked
on a crop around the new area at the model's own resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.requests import GenerationRequest
from ldm_studio.engine.validation import MAX_SIDE as _RUN_MAX_SIDE
from ldm_studio.engine.validation import check_run_size

FILLS = ("edge", "blur", "noise")
# The largest canvas side accepted: the largest image an inpaint run takes (docs/INPUT_LIMITS.md), so a
# canvas too large is refused before it is made, not after a model was loaded.
MAX_SIDE = _RUN_MAX_SIDE


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


def describe(canvas: OutpaintCanvas, fill: str, overlap: int) -> str:
    """How the canvas was extended (after rounding), as the infotext's `Outpaint:` value says it."""
    left, top, right, bottom = canvas.box
    width, height = canvas.image.size
    sides = f"left {left}, right {width - right}, top {top}, bottom {height - bottom}"
    return f"{sides}, fill {fill}, overlap {overlap}"


def outpaint_request(
    request: GenerationRequest,
    left: int = 0,
    right: int = 0,
    top: int = 0,
    bottom: int = 0,
    *,
    fill: str = "edge",
    overlap: int = 32,
    multiple: int = 8,
) -> GenerationRequest:
    """The inpaint request for `request.init_image` extended per side (the noise fill drawn from the seed).

    Bad sides, fill or overlap, or a canvas past MAX_SIDE or the run-size limit: a one-line InputError."""
    if request.init_image is None:
        raise InputError("outpainting needs an input image")
    try:
        canvas = extend_canvas(
            Image.fromarray(request.init_image),
            left,
            right,
            top,
            bottom,
            fill=fill,
            overlap=overlap,
            multiple=multiple,
            seed=request.seed % 2**32,
        )
    except ValueError as exc:
        raise InputError(str(exc)) from None
    width, height = canvas.image.size
    check_run_size(width, height, request.batch_size)
    return request.replace(
        mode="inpaint",
        init_image=np.array(canvas.image),  # writable copies: the pipeline pads them in place
        mask=np.array(canvas.mask),
        width=width,
        height=height,
        outpaint=describe(canvas, fill, overlap),
    )


def with_detail(request: GenerationRequest, native: tuple[int, int]) -> GenerationRequest:
    """Only-masked-area inpainting on when the canvas has more pixels than the model's native size."""
    if request.width * request.height > native[0] * native[1]:
        return request.replace(inpaint_only_masked=True)
    return request
