"""The SDXL refiner hand-off: the base runs the first part of the σ list, the refiner the rest.

As diffusers' `denoising_end` (base) / `denoising_start` (refiner) and A1111's "Refiner switch at": with
switch s the cut is the training timestep round(T − s·T) (200 for 0.8 of 1000); the base takes every
step whose t is at or above it, the refiner continues from the base's latent (not re-noised, not
rescaled) with the remaining steps and a fresh sampler state, as diffusers' second pipeline does.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import torch

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.requests import Cancelled, Event, GenerationRequest, Preview, Progress
from ldm_studio.engine.sampling.schedules import DiscreteSchedule
from ldm_studio.engine.validation import check_size

REFINER_MODES = ("txt2img", "img2img")
_loaded: dict[tuple, object] = {}  # the last refiner loaded, so a second Generate does not reload it


def check_refiner_request(request: GenerationRequest) -> None:
    if request.mode not in REFINER_MODES:
        raise InputError(f"the refiner hand-off works in {' and '.join(REFINER_MODES)}, not {request.mode}")
    if not 0.0 < request.refiner_switch < 1.0:
        raise InputError(f"the refiner switch must be between 0 and 1 (got {request.refiner_switch})")


def load_refiner(model, request: GenerationRequest, given=None):
    """The refiner model `request.refiner` names on `model`'s device and dtype (None when none is asked)."""
    if not request.refiner:
        return None
    check_refiner_request(request)
    if not model.config.is_sdxl:
        raise InputError(f"a refiner continues an SDXL model's latents; {model.name} is {model.config.label}")
    refiner = given
    if refiner is None:
        from ldm_studio.engine.checkpoints.loading import load_model
        from ldm_studio.engine.runtime.devices import precision_name

        path = Path(request.refiner).expanduser()
        try:
            stat = path.stat()
        except OSError as exc:
            raise InputError(f"refiner {path.name}: {exc.strerror or exc}") from None
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, str(model.device), model.dtype)
        refiner = _loaded.get(key)
        if refiner is None:
            _loaded.clear()
            refiner = load_model(path, device=model.device, precision=precision_name(model.dtype))
            _loaded[key] = refiner
    if not refiner.config.is_sdxl or refiner.config.vae.embed_dim != model.config.vae.embed_dim:
        raise InputError(
            f"{refiner.name} cannot refine {model.name}: it is {refiner.config.label}, "
            f"the model is {model.config.label}"
        )
    # The refiner has one level more than the base (4 against 3): its grid is 64 px, not 32.
    unet = refiner.config.unet
    multiple = refiner.config.vae.downscale * 2 ** (len(unet.channel_mult) - 1)
    try:
        check_size(request.width, request.height, multiple)
    except InputError as exc:
        raise InputError(f"with the refiner {refiner.name}: {exc}") from None
    return refiner


def switch_index(schedule: DiscreteSchedule, sigmas: torch.Tensor, switch: float) -> int:
    """How many of the steps in `sigmas` the base runs (diffusers' denoising_end rule)."""
    total = schedule.num_timesteps
    cutoff = round(total - switch * total)
    steps = len(sigmas) - 1
    # σ → t gives the training timesteps back up to float rounding: a margin far below one step.
    ts = [float(schedule.sigma_to_t(float(sigmas[i]))) for i in range(steps)]
    return sum(1 for t in ts if t >= cutoff - 1e-4)


def renumbered(
    events: Generator[Event, None, torch.Tensor | None], offset: int, total: int, *, first: bool
) -> Iterator[Event]:
    """A part's events counted in steps of the whole run; only the first part says "step 0"."""
    while True:
        try:
            event = next(events)
        except StopIteration as stop:
            return stop.value
        if isinstance(event, Progress):
            if event.step == 0 and not first:
                continue
            event = Progress(event.step + offset, total)
        elif isinstance(event, Preview):
            event = Preview(event.step + offset, total, event.image, event.box)
        elif isinstance(event, Cancelled):
            event = Cancelled(event.step + offset, total)
        yield event
