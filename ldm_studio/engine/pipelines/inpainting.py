"""Where inpainting works and how its result goes back into the user's image.

Two ways to work: on the whole image (padded to a size the model takes), or "only masked area": a crop
around the mask plus context padding, scaled up to the model's native resolution so small fixes get
full detail. Either way the result is pasted back through a mask feathered *inside* the painted area,
so every pixel the user did not paint stays bit-identical to the input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from ldm_studio.engine.pipelines.images import (
    composite,
    feather_mask,
    mask_bbox,
    mask_to_latent,
    mask_to_tensor,
)
from ldm_studio.engine.requests import GenerationRequest

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class InpaintPlan:
    image: np.ndarray  # what the model sees: (height, width, 3), sides multiples of the model's grid
    mask: np.ndarray  # the same region of the mask, same size as `image`
    box: Box  # (left, top, right, bottom) of the worked region in the user's image
    width: int
    height: int

    def latent_mask(self, factor: int) -> torch.Tensor:
        """1 where any pixel of a latent cell is painted: the model repaints all of the painted area."""
        area = mask_to_latent(mask_to_tensor(self.mask), factor, "area")
        return (area > 0).float()


def pad_to_multiple(array: np.ndarray, multiple: int) -> np.ndarray:
    """Extend the right and bottom edges (repeating the last row/column) up to multiples of `multiple`."""
    height, width = array.shape[:2]
    pad_h, pad_w = -height % multiple, -width % multiple
    if not (pad_h or pad_w):
        return array
    widths = ((0, pad_h), (0, pad_w)) + ((0, 0),) * (array.ndim - 2)
    return np.pad(array, widths, mode="edge")


def _working_size(box_w: int, box_h: int, native: tuple[int, int], multiple: int) -> tuple[int, int]:
    """The crop scaled to the model's native pixel count, keeping its aspect, on the model's grid."""
    scale = math.sqrt(native[0] * native[1] / (box_w * box_h))
    width = max(multiple, round(box_w * scale / multiple) * multiple)
    height = max(multiple, round(box_h * scale / multiple) * multiple)
    return width, height


def _resize(array: np.ndarray, size: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    return np.asarray(Image.fromarray(array).resize(size, resample))


def plan_inpaint(request: GenerationRequest, native: tuple[int, int], multiple: int) -> InpaintPlan:
    image, mask = request.init_image, request.mask
    height, width = image.shape[:2]
    if not request.inpaint_only_masked:
        padded_image, padded_mask = pad_to_multiple(image, multiple), pad_to_multiple(mask, multiple)
        if padded_mask.shape[:2] != (height, width):  # the padding is never repainted; the user's mask is
            padded_mask[height:, :] = 0  # left alone (it may be read-only) when nothing was padded
            padded_mask[:, width:] = 0
        return InpaintPlan(
            padded_image, padded_mask, (0, 0, width, height), padded_image.shape[1], padded_image.shape[0]
        )
    box = mask_bbox(mask, request.inpaint_padding, multiple=8, aspect=native[0] / native[1])
    left, top, right, bottom = box
    work_w, work_h = _working_size(right - left, bottom - top, native, multiple)
    crop_image = _resize(image[top:bottom, left:right], (work_w, work_h), Image.Resampling.LANCZOS)
    crop_mask = _resize(mask[top:bottom, left:right], (work_w, work_h), Image.Resampling.BILINEAR)
    return InpaintPlan(crop_image, crop_mask, box, work_w, work_h)


def paste_back(request: GenerationRequest, plan: InpaintPlan, generated: Image.Image) -> Image.Image:
    """The user's image with the generated region blended in through the feathered mask."""
    left, top, right, bottom = plan.box
    region = (
        generated.crop((0, 0, right - left, bottom - top))
        if not request.inpaint_only_masked
        else (generated.resize((right - left, bottom - top), Image.Resampling.LANCZOS))
    )
    full = request.init_image.copy()
    full[top:bottom, left:right] = np.asarray(region.convert("RGB"))
    # mask_blur is the feather width in pixels; the Gaussian reaches 2.5 σ.
    soft = feather_mask(mask_to_tensor(request.mask), request.mask_blur / 2.5)[0, 0].numpy()
    return Image.fromarray(composite(request.init_image, full, soft))
