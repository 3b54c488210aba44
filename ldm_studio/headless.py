"""The headless sub-commands `generate`, `inpaint`, `outpaint`, `upscale`: the GUI's engine, on a terminal.

Nothing is written unless the run finishes: a bad input, an error or Ctrl+C leaves the output folder as
it was, and an existing file is never overwritten (a numbered name is chosen and printed).
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
from pathlib import Path

from ldm_studio.engine.checkpoints.families import Family
from ldm_studio.engine.requests import HIRES_UPSCALERS, Cancelled, GenerationRequest, Progress, Result

MODE_OF_COMMAND = {"inpaint": "inpaint", "outpaint": "inpaint", "upscale": "upscale"}


DEFAULT_VARIATION_STRENGTH = 0.25


def variation_options(args: argparse.Namespace) -> dict:
    """--variation-seed / --variation-strength: a seed alone varies by 0.25, a strength alone from a random
    variation seed (A1111's -1)."""
    seed, strength = getattr(args, "variation_seed", None), getattr(args, "variation_strength", None)
    if seed is None and strength is None:
        return {}
    return {
        "variation_seed": seed if seed is not None else random.randrange(2**32),
        "variation_strength": strength if strength is not None else DEFAULT_VARIATION_STRENGTH,
    }


_HIRES_OPTIONS = {
    "hires_upscaler": "--hires-upscaler",
    "hires_steps": "--hires-steps",
    "hires_denoise": "--hires-denoise",
}


def hires_options(args: argparse.Namespace) -> dict:
    """--hires-scale turns hires fix on; its other options mean nothing without it."""
    given = {field: getattr(args, field, None) for field in _HIRES_OPTIONS}
    given = {field: value for field, value in given.items() if value is not None}
    if getattr(args, "hires_scale", None) is None:
        if given:
            from ldm_studio.engine.errors import InputError

            names = ", ".join(_HIRES_OPTIONS[field] for field in given)
            raise InputError(f"{names} need --hires-scale (which turns hires fix on)")
        return {}
    upscaler = given.get("hires_upscaler")
    if upscaler and upscaler not in HIRES_UPSCALERS:  # a checkpoint file: a full path, as --refiner
        given["hires_upscaler"] = str(Path(upscaler).expanduser())
    return {"hires": True, "hires_scale": args.hires_scale, **given}


def request_from_args(args: argparse.Namespace) -> GenerationRequest:
    """The request a command line asks for; images are read here so a bad file fails before loading."""
    from ldm_studio.controlnet_args import controlnet_units
    from ldm_studio.engine.image_files import load_image, load_mask

    mode = MODE_OF_COMMAND.get(args.command, "img2img" if getattr(args, "init_image", None) else "txt2img")
    image_path = getattr(args, "image", None) or getattr(args, "init_image", None)
    values = dict(
        mode=mode,
        model=args.model,
        prompt=args.prompt,
        negative_prompt=args.negative,
        seed=args.seed if args.seed is not None else random.randrange(2**32),
        steps=args.steps,
        sampler=args.sampler,
        schedule=args.schedule,
        batch_size=args.batch,
        prediction=args.prediction,
        vae=args.vae,
        device=args.device,
        precision=args.precision,
        init_image=load_image(image_path) if image_path else None,
        preview_interval=0,  # nothing shows previews on a terminal: skip computing them
        empty_negative=getattr(args, "empty_negative", "auto"),
        **adapter_options(args),
        controlnets=controlnet_units(args),
    )
    if getattr(args, "refiner", None):
        values.update(refiner=str(Path(args.refiner).expanduser()), refiner_switch=args.refiner_switch)
    if mode in ("img2img", "inpaint"):
        values["strength"] = args.strength
    if mode == "inpaint":
        values.update(
            mask=load_mask(args.mask) if args.command == "inpaint" else None,
            soft_inpainting=args.soft,
            mask_blur=args.mask_blur,
            inpaint_only_masked=args.only_masked,
            inpaint_padding=args.padding,
        )
    values.update(variation_options(args))
    values.update(hires_options(args))
    if args.cfg is not None:  # otherwise the model's recommended scale, once it is loaded
        values["cfg_scale"] = args.cfg
    if getattr(args, "cfg_rescale", 0.0):
        values["cfg_rescale"] = args.cfg_rescale
    if mode == "upscale" and args.noise_level is not None:  # otherwise the model's own
        values["noise_level"] = args.noise_level
    if mode == "txt2img":
        values.update(width=args.width or 0, height=args.height or 0)
    request = GenerationRequest(**values)
    if args.command == "outpaint":  # the canvas and its mask, built (or refused) before a model loads
        from ldm_studio.engine.pipelines.outpaint import outpaint_request

        sides = {side: getattr(args, side) for side in ("left", "right", "top", "bottom")}
        request = outpaint_request(request, **sides, fill=args.fill, overlap=args.overlap)
    return request


def parse_lora_option(text: str) -> tuple[str, float, float]:
    """`FILE`, `FILE:M` or `FILE:M_TE:M_UNET` → (file, text multiplier, UNet multiplier).

    Numbers are taken from the right, so a path with a colon in it (C:/loras/x.safetensors) stays whole."""
    path, numbers = text, []
    while len(numbers) < 2 and ":" in path:
        head, _, tail = path.rpartition(":")
        try:
            numbers.insert(0, float(tail))
        except ValueError:
            break
        path = head
    te = numbers[0] if numbers else 1.0
    return path, te, numbers[1] if len(numbers) > 1 else te


def adapter_options(args: argparse.Namespace) -> dict:
    """The request's LoRA and embeddings fields; the folders default to loras/ and embeddings/ beside
    the checkpoint (the models folder); a --lora file that does not exist fails before loading."""
    from ldm_studio.engine.errors import InputError

    loras = []
    for option in getattr(args, "lora", None) or []:
        path, te, unet = parse_lora_option(option)
        if not Path(path).expanduser().is_file():
            raise InputError(f"LoRA file not found: {path}")
        loras.append((str(Path(path).expanduser()), te, unet))
    models_folder = Path(args.model).expanduser().parent if getattr(args, "model", "") else None

    def folder(given: str | None, default: str) -> str | None:
        if given:
            return str(Path(given).expanduser())
        return str(models_folder / default) if models_folder is not None else None

    return {
        "loras": tuple(loras),
        "lora_dir": folder(getattr(args, "lora_dir", None), "loras"),
        "embeddings_dir": folder(getattr(args, "embeddings", None), "embeddings"),
    }


def _with_model_defaults(
    request: GenerationRequest, family: Family, cfg_given: bool, noise_given: bool
) -> GenerationRequest:
    """The model's native size (or the input image's) and, unless asked otherwise, its guidance scale
    and (upscale) its noise level."""
    if not cfg_given:
        request = request.replace(cfg_scale=family.default_cfg_scale)
    if not noise_given and request.mode == "upscale":
        request = request.replace(noise_level=family.default_noise_level)
    if request.mode != "txt2img":
        image = request.init_image
        return request.replace(width=image.shape[1], height=image.shape[0])
    width, height = family.default_size
    return request.replace(width=request.width or width, height=request.height or height)


def run_generation_command(args: argparse.Namespace) -> int:
    from ldm_studio.engine.checkpoints.demo_models import resolve_model_path
    from ldm_studio.engine.checkpoints.loading import load_model
    from ldm_studio.engine.errors import InputError
    from ldm_studio.engine.outputs import check_destination, save_png_atomic
    from ldm_studio.engine.pipelines.run import run
    from ldm_studio.engine.validation import check_limits
    from ldm_studio.progress import ProgressBar

    # Before any work: an output that cannot be saved (read-only folder, unknown extension) or a size of
    # 0 (which would silently mean the model's own) is found now, not after the whole run.
    check_destination(args.out)
    for side in ("width", "height"):
        value = getattr(args, side, None)
        if value is not None and value <= 0:
            raise InputError(f"--{side} {value}: give a positive size, or leave it out for the model's own")
    request = request_from_args(args)
    check_limits(request)  # numbers and sizes that no model could run: refused before loading one
    model = load_model(
        resolve_model_path(request.model, request.mode),
        device=request.device,
        precision=request.precision,
        prediction=request.prediction,
        vae=request.vae,
    )
    noise_given = getattr(args, "noise_level", None) is not None
    request = _with_model_defaults(
        request, model.config, cfg_given=args.cfg is not None, noise_given=noise_given
    )
    if args.command == "outpaint":
        from ldm_studio.engine.pipelines.outpaint import with_detail

        request = with_detail(request, model.config.default_size)
    if model.family == "sdxl-refiner" and request.mode == "txt2img" and not request.refiner:
        print(
            f"ldm-studio: note: {model.name} is an SDXL refiner, meant to finish a base model's image "
            "(--refiner with an SDXL base --model, or --init-image); drawing from noise with it anyway",
            file=sys.stderr,
        )
    cancel = threading.Event()
    result = None
    with ProgressBar(request.steps, label=request.mode) as bar:
        events = run(model, request, cancel)
        try:
            for event in events:
                if isinstance(event, Progress):
                    bar.total = event.total
                    bar.update(event.step)
                elif isinstance(event, Result):
                    result = event
                elif isinstance(event, Cancelled):
                    break
        except KeyboardInterrupt:
            cancel.set()
            events.close()
    if result is None:
        print("ldm-studio: cancelled; nothing was written", file=sys.stderr)
        return 130
    for note in result.notes:  # e.g. "LoRA 'x': 12 of 264 modules not found": said, not ignored
        print(f"ldm-studio: warning: {note}", file=sys.stderr)
    out = Path(args.out).expanduser()
    for index, (image, infotext, seed) in enumerate(
        zip(result.images, result.infotexts, result.seeds, strict=True)
    ):
        # Each file stores the batch-of-one request that makes it again (its seed, its variation seed).
        print(save_png_atomic(image, infotext, request.for_image(index), out, seed=seed))
    return 0
