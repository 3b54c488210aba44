"""The request a user makes and the events a run yields back.

A `GenerationRequest` is an immutable snapshot of what the user asked for: the GUI builds it when
Generate is pressed and never touches it again, so the worker thread reads no widgets. Images travel
as numpy uint8 arrays (H, W, 3) and masks as uint8 (H, W) with 255 = repaint, never as Qt types.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Mode = Literal["txt2img", "img2img", "inpaint", "upscale"]
MODES: tuple[str, ...] = ("txt2img", "img2img", "inpaint", "upscale")
SAMPLERS: tuple[str, ...] = ("ddim", "plms", "euler", "euler_a", "heun", "dpmpp_2m", "dpmpp_2m_sde", "lcm")
# "trailing": t = 999 first, evenly down (Turbo / Lightning / Hyper / LCM-LoRA models expect it).
SCHEDULES: tuple[str, ...] = ("normal", "karras", "trailing")
# Hires fix's upscalers of the first pass: on the latents (bilinear as A1111's "Latent", bicubic,
# nearest-exact), or on the decoded image (Lanczos). A path to an x4 upscaler checkpoint is also accepted.
HIRES_UPSCALERS: tuple[str, ...] = ("latent", "latent-bicubic", "latent-nearest-exact", "lanczos")
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "fp16", "bf16")  # "auto": fp16 on GPUs, fp32 on CPUs
DEFAULT_NOISE_LEVEL = 20  # the x4 upscaler's (diffusers' default); a model can recommend its own

# Image i of a batch uses seed + i (and variation seed + i), wrapping at the generator's 64-bit range.
SEED_MODULUS = 2**64
# Fields that hold pixel data: left out of the JSON snapshot and of equality.
_ARRAY_FIELDS = ("init_image", "mask")
# ControlNet control modes, as the A1111 extension names them: "balanced" (both CFG halves, full weight),
# "prompt" ("My prompt is more important": soft weights 0.825^k, deepest block strongest, both halves),
# "control" ("ControlNet is more important": soft weights, conditional half only).
CONTROL_MODES: tuple[str, ...] = ("balanced", "prompt", "control")
# Preprocessors: "none" uses the image as the control map; the first four need no weights of their own.
CONTROL_MODULES: tuple[str, ...] = (
    "none", "canny", "scribble", "tile", "inpaint", "depth", "lineart", "openpose", "normal",
)  # fmt: skip


@dataclass(frozen=True)
class ControlNetUnit:
    """One ControlNet: its file, its control image (a path, or `pixels` from the canvas) and how it steers.

    `start` / `end` are fractions of the sampling steps it acts on (guidance start / end); `weight`
    scales its residuals; `module` is the preprocessor applied to the image first (CONTROL_MODULES).
    """

    file: str
    image: str = ""
    weight: float = 1.0
    start: float = 0.0
    end: float = 1.0
    mode: str = "balanced"
    module: str = "none"
    pixels: np.ndarray | None = field(default=None, repr=False, compare=False)  # (H, W, 3) uint8

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "pixels"}


def _control_unit(value: Any) -> ControlNetUnit:
    if isinstance(value, ControlNetUnit):
        return value
    known = {f.name for f in dataclasses.fields(ControlNetUnit)} - {"pixels"}
    return ControlNetUnit(**{k: v for k, v in dict(value).items() if k in known})


@dataclass(frozen=True)
class GenerationRequest:
    mode: Mode = "txt2img"
    model: str = ""  # checkpoint path; "" means the bundled demo model for the mode
    prompt: str = ""
    negative_prompt: str = ""
    seed: int = 0
    steps: int = 20
    cfg_scale: float = 7.0
    cfg_rescale: float = 0.0  # φ of "CFG rescale" (0 = off, 0.7 for zero-terminal-SNR v models), 0..1
    sampler: str = "euler"
    schedule: str = "normal"
    width: int = 512
    height: int = 512
    batch_size: int = 1
    strength: float = 0.75  # img2img / inpaint: how much of the input is re-noised
    mask_blur: int = 4  # inpaint: feather radius in pixels
    inpaint_only_masked: bool = False  # inpaint: crop around the mask, work at full resolution
    inpaint_padding: int = 32  # inpaint: context pixels around the mask crop
    # inpaint: the grey-level mask as per-pixel strength (Differential Diffusion), not thresholded
    soft_inpainting: bool = False
    # inpaint on an outpainting canvas: how it was extended, "left 0, right 64, top 0, bottom 0, fill edge,
    # overlap 32" (pipelines/outpaint.py `describe`); written to the infotext as `Outpaint:`
    outpaint: str = ""
    noise_level: int = DEFAULT_NOISE_LEVEL  # upscale: noise augmentation of the low-resolution input
    eta: float = 0.0  # ddim: 0 = deterministic
    preview_interval: int = 1  # a Preview every k steps; 0 = none
    prediction: str | None = None  # "eps" / "v" / "x0" override; None = detect
    vae: str | None = None  # optional separate VAE file
    # SDXL: an empty negative prompt as "auto" (zeros for base / inpainting, the encoded "" for the
    # refiner, as diffusers' released configs), "zeros" or "encode" (as ComfyUI and A1111 always do).
    empty_negative: str = "auto"
    # SDXL refiner hand-off: this checkpoint continues the base's latents for the last part of the
    # schedule (diffusers' denoising_end / denoising_start); `refiner_switch` is the share the base runs.
    refiner: str | None = None
    refiner_switch: float = 0.8
    device: str = "auto"
    precision: str = "auto"
    # LoRAs given outside the prompt: (file, text-encoder multiplier, UNet multiplier); `<lora:NAME:M>`
    # tags in the prompt add theirs, NAME looked up in `lora_dir`. Embeddings: file stems in `embeddings_dir`.
    # Variations (A1111's "Variation seed"): the start noise is slerp(strength, noise(seed),
    # noise(variation seed)); with a strength above 0 a batch's images keep `seed`, image i takes
    # variation seed + i.
    variation_seed: int | None = None
    variation_strength: float = 0.0
    # Hires fix (txt2img): generate at width x height, upscale by `hires_scale` with `hires_upscaler`, then
    # img2img at `hires_denoise` with `hires_steps` (0 = `steps`) and the same seeds.
    hires: bool = False
    hires_scale: float = 2.0
    hires_upscaler: str = "latent"
    hires_steps: int = 0
    hires_denoise: float = 0.5
    loras: tuple[tuple[str, float, float], ...] = ()
    lora_dir: str | None = None
    embeddings_dir: str | None = None
    controlnets: tuple[ControlNetUnit, ...] = ()  # applied together, residuals summed
    init_image: np.ndarray | None = field(default=None, repr=False, compare=False)
    mask: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        # JSON brings lists back: keep the field a hashable tuple of (str, float, float).
        loras = tuple((str(path), float(te), float(unet)) for path, te, unet in self.loras)
        object.__setattr__(self, "loras", loras)
        object.__setattr__(self, "controlnets", tuple(_control_unit(u) for u in self.controlnets))

    def replace(self, **changes: Any) -> GenerationRequest:
        return dataclasses.replace(self, **changes)

    @property
    def varies(self) -> bool:
        """A variation run: the images share the seed and step the variation seed instead (as A1111)."""
        return self.variation_seed is not None and self.variation_strength > 0

    def for_image(self, index: int) -> GenerationRequest:
        """The batch-of-one request that makes image `index` of this batch again on its own: seed + index,
        or in a variation run the same seed and variation seed + index (both wrap modulo 2⁶⁴)."""
        changes: dict[str, Any] = {"batch_size": 1}
        if self.varies:
            changes["variation_seed"] = (self.variation_seed + index) % SEED_MODULUS
        else:
            changes["seed"] = (self.seed + index) % SEED_MODULUS
        return dataclasses.replace(self, **changes)

    def for_seed(self, seed: int) -> GenerationRequest:
        """The batch-of-one request of this batch's image with `seed` (any other seed: just that seed).
        A variation run's images share one seed: use `for_image` there."""
        index = 0 if self.varies else (seed - self.seed) % SEED_MODULUS
        return self.for_image(index) if index < self.batch_size else self.for_image(0).replace(seed=seed)

    def to_dict(self) -> dict[str, Any]:
        """The parameters as plain JSON-able values, pixel data left out."""
        fields = dataclasses.fields(self)
        values = {f.name: getattr(self, f.name) for f in fields if f.name not in _ARRAY_FIELDS}
        values["controlnets"] = [unit.to_dict() for unit in self.controlnets]
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GenerationRequest:
        """Build a request from `to_dict` output, ignoring keys this version does not know."""
        known = {f.name: f for f in dataclasses.fields(cls) if f.name not in _ARRAY_FIELDS}
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass(frozen=True)
class Progress:
    step: int  # steps done so far
    total: int
    stage: str = ""  # which pass of a two-pass run: "" (the first, or only), "hires fix"


@dataclass(frozen=True)
class Preview:
    step: int
    total: int
    image: np.ndarray = field(repr=False)  # (H, W, 3) uint8, may be smaller than the output
    box: tuple[int, int, int, int] | None = None  # (left, top, right, bottom) in image pixels; None = whole


@dataclass(frozen=True)
class Result:
    images: list[Any]  # PIL.Image.Image, one per batch item
    infotexts: list[str]  # A1111 "parameters" text, one per image
    seeds: list[int]
    notes: list[str] = field(default_factory=list)  # lines to show the user (LoRA modules not found)


@dataclass(frozen=True)
class Cancelled:
    step: int
    total: int


Event = Progress | Preview | Result | Cancelled
