"""Hires fix (A1111): txt2img at the base size, upscale, then img2img at the larger size with the same seeds.

The first pass runs as an ordinary txt2img. Its latents are upscaled by `hires_scale` — on the latents
(`latent`: bilinear, A1111's "Latent"; `latent-bicubic`; `latent-nearest-exact`), or decoded, resized
with Lanczos and encoded again (`lanczos`), or decoded, run through an x4 upscaler checkpoint and resized
to the target with Lanczos (a path in `hires_upscaler`) — then noised to the σ of `hires_denoise` with
fresh noise from the same per-image seeds (as A1111 makes a new generator for the pass) and sampled with
`hires_steps` (0 = `steps`; like img2img, only the last int(steps · denoise) of them run). Events count
both passes as one run; the second pass's Progress says stage "hires fix".

Infotext as A1111 writes it: `Size` is the base size, `Denoising strength` the second pass's, then
`Hires upscale: 2, Hires steps: 10, Hires upscaler: Latent` (steps only when not 0).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.pipelines import conditioning as cond
from ldm_studio.engine.pipelines.images import images_to_tensor
from ldm_studio.engine.pipelines.vae_codec import encode_pixels
from ldm_studio.engine.requests import Cancelled, Event, GenerationRequest, Preview, Progress, Result
from ldm_studio.engine.sampling.noise import NoiseSource
from ldm_studio.engine.sampling.schedules import img2img_sigmas, noised_latent, sampling_sigmas
from ldm_studio.engine.validation import hires_size, is_model_upscaler

STAGE = "hires fix"
_LATENT_MODES = {"latent": "bilinear", "latent-bicubic": "bicubic", "latent-nearest-exact": "nearest-exact"}


@dataclass(frozen=True)
class PassTools:
    """What the hires pass borrows from run.py (passed in, so this module does not import run.py)."""

    guided: Callable  # (job, concat) -> Denoise
    sample: Callable  # (job, denoise, x, sigmas) -> Generator[Event, None, latents | None]
    decode: Callable  # (job, latents) -> list of PIL images
    load_model: Callable | None = None  # (path, base model) -> LoadedModel: an x4 upscaler checkpoint
    run: Callable | None = None  # (model, request, cancel) -> Iterator[Event], to run that upscaler


def two_passes(
    job, first: Generator[Event, None, torch.Tensor | None], first_total: int, tools: PassTools
) -> Generator[Event, None, torch.Tensor | None]:
    """The first pass's events, then the second pass's, counted as one run; returns the final latents."""
    request = job.request
    width, height = hires_size(request)
    second_request = request.replace(
        width=width,
        height=height,
        steps=request.hires_steps or request.steps,
        strength=request.hires_denoise,
    )
    second = dataclasses.replace(job, request=second_request, generator=NoiseSource.for_request(request))
    sigmas = img2img_sigmas(
        sampling_sigmas(job.schedule, second_request.steps, request.schedule, request.sampler),
        request.hires_denoise,
    )
    total = first_total + len(sigmas) - 1
    latents = yield from _counted(first, 0, total, "")
    if latents is None:
        return None
    with torch.inference_mode():
        upscaled = _upscale(job, latents, width, height, tools)
        noise = second.generator.start_noise(tuple(upscaled.shape)).to(upscaled.device, upscaled.dtype)
        x = noised_latent(upscaled, noise, sigmas[0])
        concat = None
        if cond.is_inpainting_model(job.model):
            concat = cond.blank_inpaint_channels(job.model, tuple(upscaled.shape))
        denoise = tools.guided(second, concat)
    return (yield from _counted(tools.sample(second, denoise, x, sigmas), first_total, total, STAGE))


def _counted(
    events: Generator[Event, None, torch.Tensor | None], offset: int, total: int, stage: str
) -> Generator[Event, None, torch.Tensor | None]:
    """A pass's events in steps of the whole run; only the first pass says "step 0"."""
    while True:
        try:
            event = next(events)
        except StopIteration as stop:
            return stop.value
        if isinstance(event, Progress):
            if event.step == 0 and offset:
                continue
            event = Progress(event.step + offset, total, stage)
        elif isinstance(event, Preview):
            event = Preview(event.step + offset, total, event.image, event.box)
        elif isinstance(event, Cancelled):
            event = Cancelled(event.step + offset, total)
        yield event


def _upscale(job, latents: torch.Tensor, width: int, height: int, tools: PassTools) -> torch.Tensor:
    request, model = job.request, job.model
    factor = model.config.vae.downscale
    if request.hires_upscaler in _LATENT_MODES:
        mode = _LATENT_MODES[request.hires_upscaler]
        size = (height // factor, width // factor)
        if mode == "nearest-exact":
            return F.interpolate(latents, size=size, mode=mode)
        return F.interpolate(latents.float(), size=size, mode=mode, align_corners=False).to(latents.dtype)
    images = tools.decode(job, latents)
    if is_model_upscaler(request.hires_upscaler):
        images = _model_upscaled(job, images, tools)
    resized = [image.resize((width, height), Image.Resampling.LANCZOS) for image in images]
    # The posterior mean, as our img2img encodes its input.
    return encode_pixels(model.vae, images_to_tensor(resized, device=model.device, dtype=model.dtype))


def _model_upscaled(job, images: list, tools: PassTools) -> list:
    """Each first-pass image through the x4 upscaler checkpoint `hires_upscaler` (its own defaults)."""
    request = job.request
    upscaler = tools.load_model(request.hires_upscaler, job.model)
    if "upscale" not in upscaler.config.modes:
        raise InputError(
            f"hires upscaler {upscaler.name} is a {upscaler.config.label} model, not an upscaler: "
            "choose an x4 upscaler checkpoint, latent or lanczos"
        )
    upscaled = []
    for index, image in enumerate(images):
        single = request.for_image(index)
        upscale_request = GenerationRequest(
            mode="upscale",
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            seed=single.seed,
            steps=20,
            init_image=np.asarray(image.convert("RGB")),
            preview_interval=0,
        )
        result = None
        for event in tools.run(upscaler, upscale_request, job.cancel):
            if isinstance(event, Result):
                result = event
        if result is None:  # cancelled inside the upscaler: the caller's next cancel check stops the run
            return images
        upscaled.append(result.images[0])
    return upscaled
