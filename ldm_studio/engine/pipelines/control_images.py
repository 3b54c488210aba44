"""The control image a ControlNet sees: the unit's image at the generation size, through its preprocessor.

Preprocessors that need no weights of their own run here: "canny" (kornia's Canny, with thresholds
scaled to match the A1111 defaults of 100 / 200 on OpenCV's unnormalised Sobel gradient), "scribble"
(the edges, thickened, as a hand-drawn scribble is), "tile" (a blur: the tile ControlNet is trained on
degraded copies), "inpaint" (the image with the masked pixels set to -1, as the inpaint ControlNet
expects). Those that need a network (depth, lineart, openpose, normal) are not run: the user gives the
finished map (module "none") and the error says which annotator file they would need.

Values are float32 (H, W, 3) in [0, 1] (-1 where the inpaint mask is), as diffusers' ControlNet
pipelines feed them; resizing is PIL's Lanczos, as diffusers' image processor does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.image_files import load_image
from ldm_studio.engine.requests import CONTROL_MODULES, ControlNetUnit

# A1111's canny thresholds (100, 200) apply to OpenCV's Sobel on 0-255 pixels; kornia's gradient is
# normalised (÷8) on 0-1 pixels, so the same edges need thresholds 255·8 = 2040 times smaller.
CANNY_LOW, CANNY_HIGH = 100 / 2040, 200 / 2040
TILE_BLUR_SIGMA = 3.0
# The annotator files the reference implementations load (lllyasviel/Annotators), for the message.
ANNOTATOR_FILES = {
    "depth": "dpt_hybrid-midas-501f0c75.pt",
    "lineart": "sk_model.pth",
    "openpose": "body_pose_model.pth",
    "normal": "scannet.pt",
}


@dataclass(frozen=True)
class ControlImage:
    pixels: np.ndarray  # float32 (H, W, 3): [0, 1], -1 where the inpaint mask repaints
    note: str = ""  # e.g. the source was resized


def control_image(
    unit: ControlNetUnit, width: int, height: int, *, index: int = 0, mask: np.ndarray | None = None
) -> ControlImage:
    """The control map for `unit` at width x height; `mask` (uint8, 255 = repaint) for "inpaint"."""
    label = f"ControlNet {index}"
    if unit.module not in CONTROL_MODULES:
        raise InputError(
            f"{label}: unknown preprocessor {unit.module!r}; expected one of {', '.join(CONTROL_MODULES)}"
        )
    if unit.module in ANNOTATOR_FILES:
        raise InputError(
            f"{label}: the {unit.module} preprocessor needs its annotator network "
            f"({ANNOTATOR_FILES[unit.module]}), which is not available: give a finished {unit.module} map "
            "as the image with preprocessor none"
        )
    source = _source(unit, label)
    note = ""
    if source.shape[:2] != (height, width):
        note = f"{label}: control image {source.shape[1]}x{source.shape[0]} resized to {width}x{height}"
        source = np.asarray(Image.fromarray(source).resize((width, height), Image.LANCZOS))
    pixels = source.astype(np.float32) / 255.0
    if unit.module == "canny":
        pixels = _edges(pixels, thicken=0)
    elif unit.module == "scribble":
        pixels = _edges(pixels, thicken=max(1, min(width, height) // 128))
    elif unit.module == "tile":
        pixels = _blurred(pixels)
    elif unit.module == "inpaint":
        pixels = _masked(pixels, mask, width, height, label)
    return ControlImage(pixels, note)


def preview_image(control: ControlImage) -> np.ndarray:
    """The control map as uint8 (H, W, 3) for display; inpaint's masked pixels show black."""
    return (np.clip(control.pixels, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def _source(unit: ControlNetUnit, label: str) -> np.ndarray:
    if unit.pixels is not None:
        array = np.asarray(unit.pixels)
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
            raise InputError(
                f"{label}: the control image must be uint8 (H, W, 3), got {array.dtype} {array.shape}"
            )
        return array
    if not unit.image:
        raise InputError(f"{label}: no control image given")
    return load_image(unit.image)


def _to_tensor(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)[None]


def _edges(pixels: np.ndarray, thicken: int) -> np.ndarray:
    import kornia

    gray = kornia.color.rgb_to_grayscale(_to_tensor(pixels))
    _, edges = kornia.filters.canny(gray, low_threshold=CANNY_LOW, high_threshold=CANNY_HIGH)
    if thicken:
        kernel = torch.ones(2 * thicken + 1, 2 * thicken + 1)
        edges = kornia.morphology.dilation(edges, kernel)
    return edges[0, 0].clamp(0, 1).numpy()[..., None].repeat(3, axis=2).astype(np.float32)


def _blurred(pixels: np.ndarray) -> np.ndarray:
    import kornia

    radius = int(3 * TILE_BLUR_SIGMA)
    blurred = kornia.filters.gaussian_blur2d(
        _to_tensor(pixels), (2 * radius + 1, 2 * radius + 1), (TILE_BLUR_SIGMA, TILE_BLUR_SIGMA), "reflect"
    )
    return blurred[0].permute(1, 2, 0).numpy().astype(np.float32)


def _masked(pixels: np.ndarray, mask: np.ndarray | None, width: int, height: int, label: str) -> np.ndarray:
    if mask is None:
        raise InputError(f"{label}: the inpaint preprocessor needs a mask (paint one, or use inpaint mode)")
    mask = np.asarray(mask)
    if mask.shape != (height, width):
        mask = np.asarray(Image.fromarray(mask).resize((width, height), Image.NEAREST))
    out = pixels.copy()
    out[mask > 127] = -1.0
    return out


def control_preview(
    unit: ControlNetUnit, width: int, height: int, *, index: int = 0, mask: np.ndarray | None = None
) -> np.ndarray:
    """The control map the model will see for `unit` at width x height, as uint8 (H, W, 3) (for a preview)."""
    return preview_image(control_image(unit, width, height, index=index, mask=mask))
