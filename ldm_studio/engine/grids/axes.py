"""The kinds of axis an X/Y/Z plot varies: how one value is read and checked, and how it changes a request.

A value that cannot be used raises `AxisValueError` with the reason only ("is not a number"); the plan
adds which axis and which value. Values are read before anything runs, so a grid never stops half-way
on a typo. Kinds with a parameter (the LoRA a `lora_weight` axis weighs, the text a `prompt_sr` axis
replaces) get it from the plan as `param`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ldm_studio.engine.adapters.prompt_tags import format_weight, parse_lora_tags, set_lora_weight
from ldm_studio.engine.metadata.a1111 import A1111_SAMPLER_NAMES, A1111_SCHEDULE_NAMES
from ldm_studio.engine.requests import MODES, SAMPLERS, SCHEDULES, GenerationRequest
from ldm_studio.engine.validation import MAX_SEED, MAX_SIDE, MAX_STEPS

CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt")


class AxisValueError(ValueError):
    """Why one axis value cannot be used (the plan says which axis and value)."""


@dataclass(frozen=True)
class ModelFacts:
    """What the plan must know of a checkpoint before running it (a header read, no weights)."""

    size_multiple: int = 8
    modes: tuple[str, ...] = MODES
    label: str = ""  # the family, for messages


@dataclass(frozen=True)
class AxisContext:
    base: GenerationRequest
    models_folder: Path | None
    describe_model: Callable[[str], ModelFacts]  # a checkpoint path ("" = the bundled one) -> its facts


@dataclass(frozen=True)
class AxisKind:
    name: str
    title: str  # the label prefix ("CFG: 7"); "" for kinds whose values speak for themselves
    numbers: str | None  # "int" / "float": ranges ("1-5", "3-7 (+2)", "0-1 [5]") are allowed
    read: Callable[[str, AxisContext], Any]
    apply: Callable[[GenerationRequest, Any, Any], GenerationRequest]
    label: Callable[[Any], str] = str
    modes: tuple[str, ...] = MODES  # the request modes the axis means something in


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            raise AxisValueError("is not a whole number") from None
        if not number.is_integer():
            raise AxisValueError("is not a whole number") from None
        return int(number)


def _float(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise AxisValueError("is not a number") from None
    if not math.isfinite(number):
        raise AxisValueError("is not a finite number")
    return number


def _seed(text: str, ctx: AxisContext) -> int:
    seed = _int(text)
    if not 0 <= seed <= MAX_SEED:
        raise AxisValueError(f"is not a seed: seeds are 0 to {MAX_SEED}")
    return seed


def _cfg(text: str, ctx: AxisContext) -> float:
    scale = _float(text)
    if scale < 0:
        raise AxisValueError("is negative: the guidance scale is 0 or more")
    return scale


def _steps(text: str, ctx: AxisContext) -> int:
    steps = _int(text)
    if not 1 <= steps <= MAX_STEPS:
        raise AxisValueError(f"is not a step count: 1 to {MAX_STEPS}")
    return steps


def _named(text: str, names: tuple[str, ...], a1111: dict[str, str], what: str) -> str:
    """Our name, or A1111's display name for it, in any case ("Euler a", "euler_a", "EULER_A")."""
    key = text.strip().lower()
    by_display = {display.lower(): name for name, display in a1111.items()}
    found = key if key in names else by_display.get(key) or by_display.get(key.replace("_", " "))
    if found is None:
        raise AxisValueError(f"is not a {what}: expected one of {', '.join(names)}")
    return found


def _sampler(text: str, ctx: AxisContext) -> str:
    return _named(text, SAMPLERS, A1111_SAMPLER_NAMES, "sampler")


def _schedule(text: str, ctx: AxisContext) -> str:
    return _named(text, SCHEDULES, {**A1111_SCHEDULE_NAMES, "normal": "Automatic"}, "schedule")


def find_checkpoint(text: str, folder: Path | None) -> Path | None:
    """The checkpoint a model value names: a path, a file name in the models folder (or its subfolders),
    with or without its extension."""
    given = Path(text).expanduser()
    candidates = [given] if given.is_absolute() else []
    if folder is not None:
        candidates += [folder / text] + [folder / f"{text}{suffix}" for suffix in CHECKPOINT_SUFFIXES]
    candidates.append(given)  # relative to the working folder last
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    if folder is not None and folder.is_dir() and not given.parent.parts:
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() in CHECKPOINT_SUFFIXES and text in (path.name, path.stem):
                return path
    return None


def _model(text: str, ctx: AxisContext) -> str:
    path = find_checkpoint(text, ctx.models_folder)
    if path is None:
        if ctx.models_folder is None:
            raise AxisValueError("is not a checkpoint file (give its path)")
        raise AxisValueError(
            f"is not a checkpoint file in {ctx.models_folder} (give a file name there, or a path)"
        )
    try:
        facts = ctx.describe_model(str(path))
    except Exception as exc:  # an unreadable file says why, as the axis value that named it
        raise AxisValueError(f"cannot be used: {exc}") from None
    if ctx.base.mode not in facts.modes:
        raise AxisValueError(
            f"cannot do {ctx.base.mode} ({facts.label or 'its family'}: {', '.join(facts.modes)})"
        )
    return str(path)


_SIZE = re.compile(r"^\s*(\d+)\s*[x×*]\s*(\d+)\s*$", re.IGNORECASE)


def _size(text: str, ctx: AxisContext) -> tuple[int, int]:
    match = _SIZE.match(text)
    if not match:
        raise AxisValueError("is not a size: write WIDTHxHEIGHT, e.g. 512x768")
    width, height = int(match.group(1)), int(match.group(2))
    if min(width, height) < 1 or max(width, height) > MAX_SIDE:
        raise AxisValueError(f"is not a size: each side is 1 to {MAX_SIDE} pixels")
    return width, height


def _denoise(text: str, ctx: AxisContext) -> float:
    strength = _float(text)
    if not 0.0 <= strength <= 1.0:
        raise AxisValueError("is not a denoising strength: 0 to 1")
    return strength


def _lora_weight(text: str, ctx: AxisContext) -> float:
    return _float(text)  # negative weights are allowed (they invert a slider LoRA)


def _prompt_text(text: str, ctx: AxisContext) -> str:
    return text


def _set_lora(request: GenerationRequest, weight: float, name: str) -> GenerationRequest:
    """The weight of LoRA `name`: its `<lora:NAME:…>` tags in the prompt (both multipliers), else its entry
    among the request's explicit LoRAs (matched by file stem); a tag is added when it is in neither."""
    if not any(tag.name == name for tag in parse_lora_tags(request.prompt)[1]):
        for i, (path, _, _) in enumerate(request.loras):
            if Path(path).stem == name:
                loras = (*request.loras[:i], (path, weight, weight), *request.loras[i + 1 :])
                return request.replace(loras=loras)
    return request.replace(prompt=set_lora_weight(request.prompt, name, weight))


def _replace_text(request: GenerationRequest, value: str, first: str) -> GenerationRequest:
    # As A1111's Prompt S/R: every occurrence, in the prompt and the negative prompt.
    return request.replace(
        prompt=request.prompt.replace(first, value),
        negative_prompt=request.negative_prompt.replace(first, value),
    )


def _number_label(value: float) -> str:
    return f"{value:g}"


AXIS_KINDS: dict[str, AxisKind] = {
    kind.name: kind
    for kind in (
        AxisKind("seed", "Seed", "int", _seed, lambda r, v, p: r.replace(seed=v)),
        AxisKind("cfg", "CFG", "float", _cfg, lambda r, v, p: r.replace(cfg_scale=v), _number_label),
        AxisKind("steps", "Steps", "int", _steps, lambda r, v, p: r.replace(steps=v)),
        AxisKind(
            "sampler",
            "Sampler",
            None,
            _sampler,
            lambda r, v, p: r.replace(sampler=v),
            lambda v: A1111_SAMPLER_NAMES.get(v, v),
        ),
        AxisKind("schedule", "Schedule", None, _schedule, lambda r, v, p: r.replace(schedule=v)),
        AxisKind("model", "", None, _model, lambda r, v, p: r.replace(model=v), lambda v: Path(v).stem),
        AxisKind("lora_weight", "", "float", _lora_weight, lambda r, v, p: _set_lora(r, v, p), format_weight),
        AxisKind(
            "size",
            "Size",
            None,
            _size,
            lambda r, v, p: r.replace(width=v[0], height=v[1]),
            lambda v: f"{v[0]}x{v[1]}",
            modes=("txt2img",),
        ),
        AxisKind(
            "denoise",
            "Denoise",
            "float",
            _denoise,
            lambda r, v, p: r.replace(strength=v),
            _number_label,
            modes=("img2img", "inpaint"),
        ),
        AxisKind("prompt_sr", "", None, _prompt_text, lambda r, v, p: _replace_text(r, v, p)),
    )
}
# Other names people type for the same axes (A1111's labels among them).
AXIS_ALIASES: dict[str, str] = {
    "cfg_scale": "cfg",
    "cfg scale": "cfg",
    "sampler_name": "sampler",
    "scheduler": "schedule",
    "schedule type": "schedule",
    "checkpoint": "model",
    "checkpoint name": "model",
    "lora": "lora_weight",
    "denoising": "denoise",
    "strength": "denoise",
    "denoising strength": "denoise",
    "prompt s/r": "prompt_sr",
    "sr": "prompt_sr",
}
