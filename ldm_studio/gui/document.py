"""The document: every setting the user is about to generate with, as one evented model object.

Widgets write into it and follow its `changed` signal (napari style), so the prompt panel, the settings
store and a dropped PNG all go through the same object. Pressing Generate freezes it into an immutable
`GenerationRequest` with `to_request`; the worker never sees the document.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import numpy as np
from PySide6.QtCore import QObject, Signal

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.requests import (
    HIRES_UPSCALERS,
    MODES,
    PRECISIONS,
    SAMPLERS,
    SCHEDULES,
    GenerationRequest,
)
from ldm_studio.engine.validation import MAX_HIRES_SCALE, MAX_NOISE_LEVEL

T = TypeVar("T")

MAX_SEED = 2**32 - 1
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
_REQUEST_DEFAULTS = {f.name: f.default for f in dataclasses.fields(GenerationRequest)}
MODE_LABELS: dict[str, str] = {
    "txt2img": "Text → Image",
    "img2img": "Image → Image",
    "inpaint": "Inpaint",
    "upscale": "Upscale ×4",
}


def is_device_name(name: str) -> bool:
    return name in DEVICES or re.fullmatch(r"cuda:\d+", name) is not None


def _device(value: Any) -> str:
    if not isinstance(value, str) or not is_device_name(value):
        raise ValueError(f"{value!r} is not a device: use auto, cpu, cuda, cuda:N or mps")
    return value


def _clamped_int(low: int, high: int, multiple: int = 1) -> Callable[[Any], int]:
    def coerce(value: Any) -> int:
        number = min(high, max(low, int(value)))
        return number - number % multiple

    return coerce


def _clamped_float(low: float, high: float) -> Callable[[Any], float]:
    return lambda value: min(high, max(low, float(value)))


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def coerce(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return str(value)

    return coerce


class Field(Generic[T]):
    """A document attribute that coerces what is written and emits `changed(name)` when it differs.

    A field the request has takes the request's default (GenerationRequest declares them once); only a
    field of the document's own (`seed_locked`) names a default here.
    """

    _NO_DEFAULT: Any = object()

    def __init__(self, coerce: Callable[[Any], T], default: T = _NO_DEFAULT) -> None:
        self.default = default
        self.coerce = coerce
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        if self.default is Field._NO_DEFAULT:
            self.default = _REQUEST_DEFAULTS[name]  # a KeyError here: not a request field, give a default

    def __get__(self, document: Document | None, owner: type | None = None) -> T:
        if document is None:
            return self  # type: ignore[return-value]  # class access, used by `fields()`
        return document._values[self.name]

    def __set__(self, document: Document, value: Any) -> None:
        document._set(self.name, self.coerce(value))


class Document(QObject):
    changed = Signal(str)  # the name of the field that changed

    # Defaults come from GenerationRequest; the ranges are what the widgets offer.
    mode = Field(_one_of(MODES))
    model = Field(str)  # "" = the bundled demo model for the mode
    prompt = Field(str)
    negative_prompt = Field(str)
    steps = Field(_clamped_int(1, 500))
    cfg_scale = Field(_clamped_float(0.0, 50.0))
    cfg_rescale = Field(_clamped_float(0.0, 1.0))
    sampler = Field(_one_of(SAMPLERS))
    schedule = Field(_one_of(SCHEDULES))
    seed = Field(_clamped_int(0, MAX_SEED))
    seed_locked = Field(bool, default=False)  # unlocked: every Generate draws a new seed
    width = Field(_clamped_int(64, 4096, multiple=8))
    height = Field(_clamped_int(64, 4096, multiple=8))
    batch_size = Field(_clamped_int(1, 16))
    strength = Field(_clamped_float(0.0, 1.0))
    mask_blur = Field(_clamped_int(0, 64))
    inpaint_only_masked = Field(bool)
    inpaint_padding = Field(_clamped_int(0, 512))
    soft_inpainting = Field(bool)  # the mask's grey levels as per-pixel strength
    noise_level = Field(_clamped_int(0, MAX_NOISE_LEVEL))
    # SDXL refiner hand-off: "" = none (kept as "" rather than None so the settings store holds a string).
    refiner = Field(lambda value: str(value or ""), default="")
    refiner_switch = Field(_clamped_float(0.01, 0.99))
    # Hires fix (txt2img): a second pass at hires_scale × the size.
    hires = Field(bool)
    hires_scale = Field(_clamped_float(1.0, MAX_HIRES_SCALE))
    hires_upscaler = Field(_one_of(HIRES_UPSCALERS))
    hires_steps = Field(_clamped_int(0, 500))
    hires_denoise = Field(_clamped_float(0.0, 1.0))
    # Chosen in Preferences rather than the prompt panel, but they travel in every request.
    device = Field(_device)
    precision = Field(_one_of(PRECISIONS))
    preview_interval = Field(_clamped_int(0, 100))

    def __init__(self, parent: QObject | None = None, **values: Any) -> None:
        super().__init__(parent)
        self._values: dict[str, Any] = {name: f.default for name, f in self.fields().items()}
        self.update(values)

    @classmethod
    def fields(cls) -> dict[str, Field]:
        return {name: value for name, value in vars(cls).items() if isinstance(value, Field)}

    def _set(self, name: str, value: Any) -> None:
        if self._values[name] != value:
            self._values[name] = value
            self.changed.emit(name)

    def values(self) -> dict[str, Any]:
        """A plain copy of every field, for storing in the settings."""
        return dict(self._values)

    def update(self, values: Mapping[str, Any], *, strict: bool = True) -> None:
        """Set several fields; with strict=False, unknown names and unusable values are skipped."""
        known = self.fields()
        for name, value in values.items():
            if name not in known:
                if strict:
                    raise AttributeError(f"the document has no field {name!r}")
                continue
            try:
                setattr(self, name, value)
            except (TypeError, ValueError):
                if strict:
                    raise

    def randomize_seed(self, rng: random.Random | None = None) -> None:
        self.seed = (rng or random).randint(0, MAX_SEED)

    def apply_parameters(self, request: GenerationRequest) -> None:
        """Take the parameters of a stored request (a dropped PNG), keeping this machine's own choices.

        Model, device, precision and mode stay: the file names a model on another machine, and the mode
        is what the user is doing now. The seed is locked so the next Generate reproduces the image.
        """
        own = {"model", "device", "precision", "preview_interval", "mode", "refiner"}
        wanted = {k: v for k, v in request.to_dict().items() if k in self.fields() and k not in own}
        self.update(wanted, strict=False)
        self.seed_locked = True

    def to_request(self, image: np.ndarray | None, mask: np.ndarray | None) -> GenerationRequest:
        """Freeze the document into a request; `image`/`mask` are the canvas contents (copied).

        Raises InputError when the mode needs an input the user has not given yet.
        """
        values = {k: v for k, v in self._values.items() if k != "seed_locked"}
        values["refiner"] = values["refiner"] or None
        request = GenerationRequest(**values)
        if self.mode == "txt2img":
            return request
        if image is None:
            raise InputError(f"{MODE_LABELS[self.mode]} needs an input image: open or drop one first.")
        # The input image decides the size (the upscaler's output is 4x this); width/height are for txt2img.
        height, width = image.shape[:2]
        changes: dict[str, Any] = {"init_image": image.copy(), "width": width, "height": height}
        changes["hires"] = False  # a txt2img option
        if self.mode == "inpaint":
            if mask is None or not mask.any():
                raise InputError("Inpaint needs a mask: paint over the area to repaint.")
            changes["mask"] = mask.copy()
        return request.replace(**changes)
