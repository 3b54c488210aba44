"""The four jobs — txt2img, img2img, inpaint, upscale — as generators of events.

`run(model, request, cancel)` yields `Progress` after every step, a `Preview` every
`request.preview_interval` steps, and ends with one `Result` or one `Cancelled`. The cancel event is
checked before every UNet call, so a cancel lands within one step. Bad requests raise `InputError`
before any work starts.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from ldm_studio.engine.errors import InputError, LdmError
from ldm_studio.engine.metadata.a1111 import format_infotext
from ldm_studio.engine.pipelines import conditioning as cond
from ldm_studio.engine.pipelines import hires, outpaint_tiles, soft_inpainting
from ldm_studio.engine.pipelines import refiner as refiners
from ldm_studio.engine.pipelines import sdxl_conditioning as sdxl
from ldm_studio.engine.pipelines.adapter_state import PreparedAdapters, prepare_adapters
from ldm_studio.engine.pipelines.controlnet_conditioning import infotext_units, mark_rows, prepare_controls
from ldm_studio.engine.pipelines.event_bridge import WorkAbandoned, run_with_events
from ldm_studio.engine.pipelines.images import tensor_to_pil
from ldm_studio.engine.pipelines.inpainting import InpaintPlan, pad_to_multiple, paste_back, plan_inpaint
from ldm_studio.engine.pipelines.preview_maps import preview_function
from ldm_studio.engine.pipelines.run_errors import all_finite, memory_errors_explained, not_finite
from ldm_studio.engine.pipelines.upscaling import upscale_denoiser
from ldm_studio.engine.pipelines.vae_codec import decode_latents
from ldm_studio.engine.requests import Cancelled, Event, GenerationRequest, Preview, Progress, Result
from ldm_studio.engine.sampling.denoisers import Denoise, blend_inpaint, guided, lcm_boundary, make_denoiser
from ldm_studio.engine.sampling.noise import NoiseSource
from ldm_studio.engine.sampling.samplers import sample
from ldm_studio.engine.sampling.schedules import (
    DiscreteSchedule,
    finish_latent,
    img2img_sigmas,
    initial_latent,
    linear_schedule,
    noised_latent,
    sampling_sigmas,
)
from ldm_studio.engine.validation import validate_request

# DPM-Solver in diffusers rounds t to training steps; matching it keeps our images equal to theirs.
_QUANTIZED_T_SAMPLERS = ("dpmpp_2m", "dpmpp_2m_sde")


class _CancelRequested(Exception):
    pass


@dataclass
class _Job:
    model: object  # LoadedModel
    request: GenerationRequest
    cancel: threading.Event
    generator: NoiseSource  # one CPU generator per image: image i is made again alone with seed + i
    schedule: DiscreteSchedule
    adapters: PreparedAdapters  # the prompt to encode (LoRA tags removed), embeddings, hashes, notes
    refiner: object = None  # LoadedModel of an SDXL refiner hand-off
    controls: object = None  # controlnet_conditioning.Controls: the request's ControlNets, or None


def size_multiple(model) -> int:
    """Image sides must be multiples of this: the VAE factor times the UNet's downsamplings."""
    return model.config.vae.downscale * 2 ** (len(model.config.unet.channel_mult) - 1)


def run(model, request: GenerationRequest, cancel: threading.Event, refiner=None) -> Iterator[Event]:
    """Validate `request` for `model` now, then return the generator of its events.

    `refiner`: the loaded model `request.refiner` names, if the caller holds it; else it is loaded here."""
    if request.mode != "txt2img" and request.init_image is not None:
        height, width = request.init_image.shape[:2]
        request = request.replace(width=width, height=height)
    validate_request(
        request,
        modes=model.config.modes,
        size_multiple=size_multiple(model),
        family_label=model.config.label,
        output_scale=model.config.vae.downscale,
    )
    tiles = outpaint_tiles.plan_tiles(request, model.config.default_size)
    if tiles is not None:  # a big outpaint canvas: windows at the native size, each an inpaint run
        return outpaint_tiles.run_tiles(request, tiles, lambda window: run(model, window, cancel, refiner))
    adapters = prepare_adapters(model, request)  # merges (or undoes) LoRAs now: bad files fail here
    if model.config.is_sdxl and request.empty_negative not in sdxl.EMPTY_NEGATIVE_RULES:
        rules = ", ".join(sdxl.EMPTY_NEGATIVE_RULES)
        raise InputError(f"empty_negative must be one of {rules}, not {request.empty_negative!r}")
    refiner = refiners.load_refiner(model, request, refiner)
    if request.controlnets and request.mode == "upscale":
        raise InputError("ControlNets steer txt2img, img2img and inpainting, not the upscaler")
    job = _Job(
        controls=prepare_controls(model, request),
        model=model,
        request=request,
        cancel=cancel,
        refiner=refiner,
        generator=NoiseSource.for_request(request),
        adapters=adapters,
        schedule=linear_schedule(
            model.config.linear_start,
            model.config.linear_end,
            model.config.timesteps,
            zero_terminal_snr=getattr(model.config, "zero_terminal_snr", False),
        ),
    )
    steps = {"txt2img": _txt2img, "img2img": _img2img, "inpaint": _inpaint, "upscale": _upscale}
    return memory_errors_explained(steps[request.mode](job), request)


def _noise(job: _Job, shape: tuple[int, ...]) -> torch.Tensor:
    # Drawn on the CPU so a seed gives the same image on every device (and as diffusers' CPU generator).
    return job.generator.start_noise(shape).to(job.model.device, job.model.dtype)


def _latent_shape(job: _Job, width: int, height: int) -> tuple[int, int, int, int]:
    factor = job.model.config.vae.downscale
    return (job.request.batch_size, job.model.config.vae.embed_dim, height // factor, width // factor)


def _model_denoiser(job: _Job):
    return make_denoiser(
        job.model.unet,
        job.schedule,
        job.model.config.prediction,
        quantize_t=job.request.sampler in _QUANTIZED_T_SAMPLERS,
        control=job.controls,
    )


def _guided(job: _Job, concat: torch.Tensor | None = None, y: torch.Tensor | None = None) -> Denoise:
    request = job.request
    if job.model.config.is_sdxl:
        positive, negative = _sdxl_pair(job, job.adapters.prompt, concat)
    else:
        positive, negative = cond.pair(_text_contexts(job), concat, y)
    if job.controls is not None:
        positive, negative = mark_rows(positive, negative)
    denoise = guided(
        _model_denoiser(job),
        positive,
        negative,
        request.cfg_scale,
        rescale=request.cfg_rescale,
        prediction=job.model.config.prediction,
    )
    return _for_sampler(job, denoise)


def _for_sampler(job: _Job, denoise: Denoise) -> Denoise:
    """The guided estimate as the sampler expects it: LCM's carries its boundary condition."""
    return lcm_boundary(denoise, job.schedule) if job.request.sampler == "lcm" else denoise


def _text_contexts(job: _Job):
    request, adapters = job.request, job.adapters
    contexts = cond.text_contexts(
        job.model, adapters.prompt, request.negative_prompt, request.batch_size, adapters.embeddings
    )
    if contexts is not None and not all(all_finite(c) for c in contexts):
        raise LdmError(
            f"{job.model.name}: the text encoder gave NaN or infinite values for this prompt, so nothing "
            "was generated: its text-encoder weights are damaged (re-download the model)"
        )
    return contexts


def _sdxl_pair(job: _Job, prompt: str, concat: torch.Tensor | None):
    """SDXL's (cond, uncond): both towers, and `y` for the image size rounded up to the model's grid."""
    request, multiple = job.request, size_multiple(job.model)
    size = (-(-request.width // multiple) * multiple, -(-request.height // multiple) * multiple)
    return sdxl.sdxl_pair(
        job.model,
        prompt,
        request.negative_prompt,
        request.batch_size,
        size,
        concat,
        request.empty_negative,
        job.adapters.embeddings,
    )


def _sigmas(job: _Job) -> torch.Tensor:
    request = job.request
    return sampling_sigmas(job.schedule, request.steps, request.schedule, request.sampler)


def _sample(
    job: _Job,
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    box: tuple[int, int, int, int] | None = None,
    finish: bool = True,
) -> Generator[Event, None, torch.Tensor | None]:
    """Run the sampler, yielding Progress and Preview; return the final latent, or None if cancelled.

    `finish=False` returns the sampler's last x as is (the base's half of a refiner hand-off)."""
    total = len(sigmas) - 1
    if job.controls is not None:
        job.controls.set_sigmas(sigmas)
    interval = job.request.preview_interval
    to_rgb = preview_function(job.model) if interval > 0 else None
    done = {"steps": 0}

    def work(emit: Callable[[Event], None], abandoned: threading.Event) -> torch.Tensor:
        def checked(x: torch.Tensor, sigma: float) -> torch.Tensor:
            if job.cancel.is_set():
                raise _CancelRequested
            if abandoned.is_set():
                raise WorkAbandoned
            return denoise(x, sigma)

        def callback(i: int, sigma: float, x: torch.Tensor, denoised: torch.Tensor) -> None:
            step = i + 1
            done["steps"] = step
            # One reduction over the latent (µs, against a UNet call of milliseconds or more): stop at
            # the first step that went non-finite instead of sampling on into a black image.
            if not all_finite(denoised):
                raise not_finite(job, f"the UNet's estimate at step {step} of {total}")
            if to_rgb is not None and (step % interval == 0 or step == total):
                emit(Preview(step, total, to_rgb(denoised), box))
            emit(Progress(step, total))

        return sample(
            job.request.sampler,
            checked,
            x,
            sigmas,
            generator=job.generator,
            callback=callback,
            eta=job.request.eta,
        )

    yield Progress(0, total)
    if not all_finite(x):
        raise not_finite(job, "the starting latent (the input image through the VAE encoder)", guided=False)
    if total == 0:
        return x
    try:
        x = yield from run_with_events(work)
    except _CancelRequested:
        yield Cancelled(done["steps"], total)
        return None
    return finish_latent(x, sigmas) if finish else x


def _final_vae(job: _Job):
    """The VAE that decodes: after a hand-off the refiner's own (as diffusers' refiner pipeline decodes),
    unless the user chose a separate VAE for the model."""
    if job.refiner is not None and job.model.vae_path is None:
        return job.refiner.vae
    return job.model.vae


def _sample_or_hand_off(
    job: _Job, denoise: Denoise, x: torch.Tensor, sigmas: torch.Tensor
) -> Generator[Event, None, torch.Tensor | None]:
    """`_sample`, or with a refiner: the base to the switch, the refiner from its latent (refiner.py)."""
    if job.refiner is None:
        return (yield from _sample(job, denoise, x, sigmas))
    split = refiners.switch_index(job.schedule, sigmas, job.request.refiner_switch)
    total = len(sigmas) - 1
    base_part = _sample(job, denoise, x, sigmas[: split + 1], finish=False)
    x = yield from refiners.renumbered(base_part, 0, total, first=True)
    if x is None:
        return None
    refining = dataclasses.replace(job, model=job.refiner, refiner=None, controls=None)
    with torch.inference_mode():
        refiner_denoise = _guided(refining)
    refiner_part = _sample(refining, refiner_denoise, x, sigmas[split:])
    return (yield from refiners.renumbered(refiner_part, split, total, first=False))


def _result(job: _Job, images: list) -> Result:
    """Each image with its own seed (seed + i) in its infotext and in `Result.seeds`."""
    singles = [job.request.for_image(i) for i in range(len(images))]
    infotexts = [
        format_infotext(
            single,
            seed=single.seed,
            model_name=job.model.name,
            model_hash=job.model.short_hash(),
            size=images[0].size if images and not job.request.hires else None,  # hires: the base size
            lora_hashes=job.adapters.lora_hashes,
            ti_hashes=job.adapters.ti_hashes,
            refiner_hash=job.refiner.short_hash() if job.refiner is not None else "",
            controlnets=infotext_units(job.controls),
        )
        for single in singles
    ]
    notes = list(job.adapters.notes) + (job.controls.notes if job.controls is not None else [])
    return Result(images, infotexts, [single.seed for single in singles], notes)


def _decode(job: _Job, latents: torch.Tensor) -> list:
    with torch.inference_mode():
        images = decode_latents(_final_vae(job), latents)  # retried in fp32 there when fp16 overflowed
        if not all_finite(images):
            raise not_finite(job, "the VAE's decoded image", guided=False)
        return tensor_to_pil(images)


def _txt2img(job: _Job) -> Iterator[Event]:
    request = job.request
    with torch.inference_mode():
        shape = _latent_shape(job, request.width, request.height)
        sigmas = _sigmas(job)
        x = initial_latent(_noise(job, shape), sigmas, request.schedule)
        concat = None
        if cond.is_inpainting_model(job.model):
            concat = cond.blank_inpaint_channels(job.model, shape)
        denoise = _guided(job, concat)
    passes = _sample_or_hand_off(job, denoise, x, sigmas)
    if request.hires:  # upscale, then img2img at the larger size (hires.py)
        passes = hires.two_passes(job, passes, len(sigmas) - 1, _hires_tools())
    latents = yield from passes
    if latents is not None:
        yield _result(job, _decode(job, latents))


def _hires_tools() -> hires.PassTools:
    from ldm_studio.engine.checkpoints.loading import load_model
    from ldm_studio.engine.runtime.devices import precision_name

    def load(path: str, base):  # an x4 upscaler checkpoint, on the base model's device and dtype
        return load_model(Path(path).expanduser(), device=base.device, precision=precision_name(base.dtype))

    return hires.PassTools(_guided, _sample, _decode, load_model=load, run=run)


def _cropped(images: list, width: int, height: int) -> list:
    """Drop the edge padding that made the input fit the model's grid."""
    return [image if image.size == (width, height) else image.crop((0, 0, width, height)) for image in images]


def _img2img(job: _Job) -> Iterator[Event]:
    request = job.request
    with torch.inference_mode():
        image = pad_to_multiple(request.init_image, size_multiple(job.model))
        x0 = cond.encode_images(job.model, image, request.batch_size)
        sigmas = img2img_sigmas(_sigmas(job), request.strength)
        x = noised_latent(x0, _noise(job, tuple(x0.shape)), sigmas[0])
        concat = None
        if cond.is_inpainting_model(job.model):
            concat = cond.blank_inpaint_channels(job.model, tuple(x0.shape))
        denoise = _guided(job, concat)
    latents = yield from _sample_or_hand_off(job, denoise, x, sigmas)
    if latents is not None:
        yield _result(job, _cropped(_decode(job, latents), request.width, request.height))


def _inpaint(job: _Job) -> Iterator[Event]:
    request, model = job.request, job.model
    soft = request.soft_inpainting  # the mask as per-pixel strength: soft_inpainting.py
    work = soft_inpainting.feathered_request(request) if soft else request  # plan and paste-back only
    plan: InpaintPlan = plan_inpaint(work, model.config.default_size, size_multiple(model))
    batch = request.batch_size
    with torch.inference_mode():
        sigmas = img2img_sigmas(_sigmas(job), request.strength)
        shape = _latent_shape(job, plan.width, plan.height)
        noise = _noise(job, shape)
        if cond.is_inpainting_model(model):
            # As diffusers: the start noise is drawn first, then the masked image is encoded with
            # the same generator (a posterior sample), so our images match theirs.
            hole = soft_inpainting.hole_mask(plan.mask) if soft else plan.mask
            concat = cond.inpaint_channels(model, plan.image, hole, batch, job.generator)
            denoise = _guided(job, concat)
            x0 = cond.encode_images(model, plan.image, batch) if request.strength < 1 or soft else None
        elif soft:
            x0 = cond.encode_images(model, plan.image, batch)
            denoise = _guided(job)
        else:
            x0 = cond.encode_images(model, plan.image, batch)
            latent_mask = plan.latent_mask(model.config.vae.downscale).to(model.device, model.dtype)
            denoise = blend_inpaint(_guided(job), x0, latent_mask, noise)
        if soft:
            strength = soft_inpainting.latent_strength(
                plan.mask, model.config.vae.downscale, model.device, model.dtype
            )
            denoise = soft_inpainting.differential_blend(denoise, x0, strength, noise, sigmas)
        start_fresh = request.strength >= 1 or x0 is None
        x = (
            initial_latent(noise, sigmas, request.schedule)
            if start_fresh
            else noised_latent(x0, noise, sigmas[0])
        )
    latents = yield from _sample(job, denoise, x, sigmas, box=plan.box)
    if latents is not None:
        generated = _decode(job, latents)
        yield _result(job, [paste_back(work, plan, image) for image in generated])


def _upscale(job: _Job) -> Iterator[Event]:
    request = job.request
    model = job.model
    grid = 2 ** (len(model.config.unet.channel_mult) - 1)  # the latent is the low-res image's size
    with torch.inference_mode():
        image = pad_to_multiple(request.init_image, grid)
        batch = request.batch_size
        y = None
        if model.config.unet.num_classes is not None:  # x4: noise-augmented input, level as class label
            low_res = cond.augmented_low_res(
                image, request.noise_level, batch, job.generator, model.device, model.dtype
            )
            y = torch.full((batch,), request.noise_level, dtype=torch.long, device=model.device)
        else:  # CompVis LDM-BSR: the clean low-res image
            low_res = cond.low_res_pixels(model, image, batch)
        height, width = image.shape[:2]
        shape = (batch, model.config.vae.embed_dim, height, width)
        sigmas = _sigmas(job)
        x = initial_latent(_noise(job, shape), sigmas, request.schedule)
        contexts = _text_contexts(job)
        denoise = _for_sampler(
            job, upscale_denoiser(_model_denoiser(job), contexts, low_res, y, request.cfg_scale)
        )
    latents = yield from _sample(job, denoise, x, sigmas)
    if latents is not None:
        factor = model.config.vae.downscale
        yield _result(job, _cropped(_decode(job, latents), request.width * factor, request.height * factor))
