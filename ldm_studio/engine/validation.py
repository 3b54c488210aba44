"""Checks a request against what the chosen model can do, before any work starts.

Every failure is an InputError whose message says what was wrong and what would be accepted, so the
GUI and the CLI can show it as is and nothing is written.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.requests import HIRES_UPSCALERS, MODES, SAMPLERS, SCHEDULES, GenerationRequest

MAX_NOISE_LEVEL = 350  # the x4 upscaler was trained with noise levels up to this
MAX_SEED = 2**64 - 1  # torch's generator takes 64-bit seeds; A1111 and diffusers use the same range
# Sizes that can never fit are refused before a model runs (smaller ones that do not fit this machine
# become an OutOfMemory message when the allocator fails): an output side above 8192 px, more than
# 64 megapixels in one run (the whole batch), a batch above 64. An SD UNet's activations at 64 MP
# need hundreds of GB.
MAX_SIDE = 8192
MAX_RUN_PIXELS = 64 * 2**20
MAX_BATCH = 64
MAX_STEPS = 1000  # the schedules have 1000 training steps
MAX_MASK_BLUR = 256  # px; A1111 offers 0-64


_CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
MAX_HIRES_SCALE = 4.0


def hires_size(request: GenerationRequest) -> tuple[int, int]:
    """Hires fix's second-pass (width, height): the base size times the scale, rounded down as A1111."""
    return int(request.width * request.hires_scale), int(request.height * request.hires_scale)


def is_model_upscaler(name: str) -> bool:
    """`hires_upscaler` names an upscaler checkpoint file rather than one of HIRES_UPSCALERS."""
    return name not in HIRES_UPSCALERS and name.lower().endswith(_CHECKPOINT_SUFFIXES)


def _check_hires(request: GenerationRequest) -> None:
    if request.mode != "txt2img":
        raise InputError(f"hires fix is a txt2img option; {request.mode} cannot use it")
    if not 1.0 <= request.hires_scale <= MAX_HIRES_SCALE:  # also refuses NaN
        raise InputError(f"hires scale must be between 1 and {MAX_HIRES_SCALE:g} (got {request.hires_scale})")
    if request.hires_upscaler not in HIRES_UPSCALERS and not is_model_upscaler(request.hires_upscaler):
        raise InputError(
            f"unknown hires upscaler {request.hires_upscaler!r}: expected one of "
            f"{', '.join(HIRES_UPSCALERS)} or an x4 upscaler checkpoint file"
        )
    if is_model_upscaler(request.hires_upscaler) and not Path(request.hires_upscaler).expanduser().is_file():
        raise InputError(f"hires upscaler {request.hires_upscaler}: no such file")
    if not 0 <= request.hires_steps <= MAX_STEPS:
        raise InputError(f"hires steps must be 0 (= steps) to {MAX_STEPS} (got {request.hires_steps})")
    if not 0.0 <= request.hires_denoise <= 1.0:
        raise InputError(f"hires denoising strength must be between 0 and 1 (got {request.hires_denoise})")
    if request.width > 0 and request.height > 0:
        check_run_size(*hires_size(request), request.batch_size)


def _check_hires_grid(request: GenerationRequest, multiple: int) -> None:
    width, height = hires_size(request)
    for name, value in (("width", width), ("height", height)):
        if value % multiple:
            below, above = nearest_multiples(value, multiple)
            raise InputError(
                f"hires fix: {request.width}x{request.height} × {request.hires_scale:g} is {width}x{height}, "
                f"but this model needs multiples of {multiple}: choose a scale that makes the {name} "
                f"{below} or {above}"
            )


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


def check_run_size(width: int, height: int, batch: int) -> None:
    """Refuse outputs that could never fit in memory (see MAX_SIDE, MAX_RUN_PIXELS)."""
    if max(width, height) > MAX_SIDE:
        raise InputError(f"{width}x{height} is too large: each side can be at most {MAX_SIDE} pixels")
    if width * height * batch > MAX_RUN_PIXELS:
        raise InputError(
            f"{batch} image(s) of {width}x{height} are too much for one run (at most "
            f"{MAX_RUN_PIXELS // 2**20} megapixels in all): use a smaller size or batch"
        )


def _check_text(name: str, text: str) -> None:
    # A lone surrogate (a broken UTF-16 pair, or undecodable bytes on a command line) cannot be tokenized.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(
            f"the {name} holds an invalid character ({text[exc.start]!r} at position {exc.start}): "
            "retype it, or save the text as UTF-8"
        ) from None


def check_limits(request: GenerationRequest) -> None:
    """The checks that need no model (numbers, text, sizes that can never fit): the CLI runs them before
    loading one, `validate_request` again with the model."""
    if request.steps < 1:
        raise InputError(f"steps must be at least 1 (got {request.steps})")
    if request.batch_size < 1:
        raise InputError(f"batch size must be at least 1 (got {request.batch_size})")
    if request.sampler not in SAMPLERS:
        raise InputError(f"unknown sampler {request.sampler!r}: expected one of {', '.join(SAMPLERS)}")
    if request.schedule not in SCHEDULES:
        raise InputError(f"unknown schedule {request.schedule!r}: expected one of {', '.join(SCHEDULES)}")
    if request.steps > MAX_STEPS:
        raise InputError(f"steps must be at most {MAX_STEPS} (got {request.steps})")
    if request.batch_size > MAX_BATCH:
        raise InputError(f"batch size must be at most {MAX_BATCH} (got {request.batch_size})")
    if not 0 <= request.seed <= MAX_SEED:
        raise InputError(f"the seed must be between 0 and {MAX_SEED} (2**64 - 1); got {request.seed}")
    if request.variation_seed is not None and not 0 <= request.variation_seed <= MAX_SEED:
        raise InputError(
            f"the variation seed must be between 0 and {MAX_SEED} (2**64 - 1); got {request.variation_seed}"
        )
    if not 0.0 <= request.variation_strength <= 1.0:  # also refuses NaN
        raise InputError(f"variation strength must be between 0 and 1 (got {request.variation_strength})")
    for name, value in (("CFG scale", request.cfg_scale), ("eta", request.eta)):
        if not math.isfinite(value):
            raise InputError(f"{name} must be a finite number (got {value})")
    if request.cfg_scale < 0:
        raise InputError(f"CFG scale must not be negative (got {request.cfg_scale})")
    if not 0.0 <= request.cfg_rescale <= 1.0:
        raise InputError(f"CFG rescale must be between 0 and 1 (got {request.cfg_rescale})")
    if request.eta < 0:
        raise InputError(f"eta must not be negative (got {request.eta})")
    for name, text in (("prompt", request.prompt), ("negative prompt", request.negative_prompt)):
        _check_text(name, text)
    if not 0.0 <= request.strength <= 1.0:
        raise InputError(f"strength must be between 0 and 1 (got {request.strength})")
    if request.mode == "upscale" and not 0 <= request.noise_level <= MAX_NOISE_LEVEL:
        raise InputError(f"noise level must be 0 to {MAX_NOISE_LEVEL} (got {request.noise_level})")
    if request.mode == "inpaint":
        if not 0 <= request.mask_blur <= MAX_MASK_BLUR:
            raise InputError(f"mask blur must be 0 to {MAX_MASK_BLUR} pixels (got {request.mask_blur})")
        if request.inpaint_padding < 0:
            raise InputError(
                f"the padding around the mask must not be negative (got {request.inpaint_padding})"
            )
    if request.mode == "txt2img" and request.width > 0 and request.height > 0:
        check_run_size(request.width, request.height, request.batch_size)
    if request.hires:
        _check_hires(request)


def validate_request(
    request: GenerationRequest,
    *,
    modes: Iterable[str],
    size_multiple: int,
    family_label: str,
    output_scale: int = 1,
) -> None:
    """Raise InputError when the request cannot run on a model of this family (`output_scale`: how much
    larger than the input an upscaler's output is)."""
    if request.mode not in MODES:
        raise InputError(f"unknown mode {request.mode!r}: expected one of {', '.join(MODES)}")
    modes = tuple(modes)
    if request.mode not in modes:
        raise InputError(f"{family_label} cannot do {request.mode}: it can do {', '.join(modes)}")
    check_limits(request)
    if request.mode == "txt2img":
        check_size(request.width, request.height, size_multiple)
        check_run_size(request.width, request.height, request.batch_size)
        if request.hires:
            _check_hires_grid(request, size_multiple)
        return
    image = request.init_image
    if image is None:
        raise InputError(f"{request.mode} needs an input image")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"the input image must be RGB uint8 (H, W, 3); got {image.dtype} {image.shape}")
    if request.mode == "inpaint":
        _check_mask(request.mask, image)
    factor = output_scale if request.mode == "upscale" else 1
    check_run_size(image.shape[1] * factor, image.shape[0] * factor, request.batch_size)
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
