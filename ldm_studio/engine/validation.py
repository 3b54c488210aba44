"""Checks a request against what the chosen model can do, before any work starts.

Every failure is an InputError whose message says what was wrong and what would be accepted, so the
GUI and the CLI can show it as is and nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.requests import MODES, SAMPLERS, SCHEDULES, GenerationRequest

MAX_NOISE_LEVEL = 350  # the x4 upscaler was trained with noise levels up to this


def nearest_multiples(value: int, multiple: int) -> tuple[int, int]:
    """The valid sizes just below and just above `value` (equal when `value` is valid)."""
    below = max(multiple, value // multiple * multiple)
    above = below if below >= value else below + multiple
    return below, above


def check_size(width: int, height: int, multiple: int) -> None:
    for name, value in (("width", width), ("height", height)):
        if value < multiple or value % multiple:
            below, above = nearest_multiples(value, multiple)
            nearest = f"{below}" if below == above else f"{below} or {above}"
            raise InputError(
                f"{name} {value} is not a multiple of {multiple}, which this model needs: use {nearest}"
            )


def validate_request(
    request: GenerationRequest, *, modes: Iterable[str], size_multiple: int, family_label: str
) -> None:
    """Raise InputError when the request cannot run on a model of this family."""
    if request.mode not in MODES:
        raise InputError(f"unknown mode {request.mode!r}: expected one of {', '.join(MODES)}")
    modes = tuple(modes)
    if request.mode not in modes:
        raise InputError(f"{family_label} cannot do {request.mode}: it can do {', '.join(modes)}")
    if request.steps < 1:
        raise InputError(f"steps must be at least 1 (got {request.steps})")
    if request.batch_size < 1:
        raise InputError(f"batch size must be at least 1 (got {request.batch_size})")
    if request.sampler not in SAMPLERS:
        raise InputError(f"unknown sampler {request.sampler!r}: expected one of {', '.join(SAMPLERS)}")
    if request.schedule not in SCHEDULES:
        raise InputError(f"unknown schedule {request.schedule!r}: expected one of {', '.join(SCHEDULES)}")
    if request.cfg_scale < 0:
        raise InputError(f"CFG scale must not be negative (got {request.cfg_scale})")
    if not 0.0 <= request.strength <= 1.0:
        raise InputError(f"strength must be between 0 and 1 (got {request.strength})")
    if request.mode == "upscale" and not 0 <= request.noise_level <= MAX_NOISE_LEVEL:
        raise InputError(f"noise level must be 0 to {MAX_NOISE_LEVEL} (got {request.noise_level})")
    if request.mode == "txt2img":
        check_size(request.width, request.height, size_multiple)
        return
    image = request.init_image
    if image is None:
        raise InputError(f"{request.mode} needs an input image")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"the input image must be RGB uint8 (H, W, 3); got {image.dtype} {image.shape}")
    if request.mode == "inpaint":
        _check_mask(request.mask, image)
    # Input images of any size are fine: the pipeline pads them to the model's grid and crops back.


def _check_mask(mask: np.ndarray | None, image: np.ndarray) -> None:
    if mask is None:
        raise InputError("inpainting needs a mask: paint the area to repaint")
    if mask.shape != image.shape[:2]:
        raise InputError(
            f"the mask is {mask.shape[1]}x{mask.shape[0]} but the image is "
            f"{image.shape[1]}x{image.shape[0]}: they must be the same size"
        )
    if not mask.any():
        raise InputError("the mask is empty: paint the area to repaint")
