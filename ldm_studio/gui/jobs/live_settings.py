"""The fast settings of live mode, as a pure function (no Qt, no torch: the bench uses it too).

A live image must come back while the user is still looking at the edit that asked for it, so live
runs take one image at a time with a preview after every step. A few-step model says what it is by
its name, as its makers publish them (LCM / LCM-LoRA, SDXL-Turbo, Lightning, Hyper-SD): the name of
the checkpoint, of a LoRA given to the request or named in a `<lora:…>` tag, or the user's choice of
the LCM sampler. Those get their sampler and a few steps with guidance off (a scale of 1 runs the
conditional half only: half the UNet work); any other model keeps the user's sampler and steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ldm_studio.engine.requests import GenerationRequest

FAST_STEPS = 4  # LCM-LoRA's and Lightning's published few-step setting
_MARKERS = (("lcm", "lcm"), ("turbo", "few-step"), ("lightning", "few-step"), ("hyper", "few-step"))
_LORA_TAG = re.compile(r"<lora:([^:>]+)", re.IGNORECASE)


@dataclass(frozen=True)
class LiveSettings:
    request: GenerationRequest
    kind: str  # "lcm", "few-step" or "" (the user's own sampler and steps)
    because: str  # the name that said so ("" when kind is "")


def _names(request: GenerationRequest) -> list[str]:
    names = [Path(request.model).stem] if request.model else []
    names += [Path(path).stem for path, _, _ in request.loras]
    names += _LORA_TAG.findall(request.prompt)
    return names


def distilled_kind(request: GenerationRequest) -> tuple[str, str]:
    """("lcm" | "few-step" | "", the name that says so)."""
    if request.sampler == "lcm":
        return "lcm", "the LCM sampler"
    for name in _names(request):
        lowered = name.lower()
        for marker, kind in _MARKERS:
            if marker in lowered:
                return kind, name
    return "", ""


def live_settings(request: GenerationRequest) -> LiveSettings:
    """The request a live edit runs: one image, a preview per step, a few-step model's own settings."""
    kind, because = distilled_kind(request)
    fast = request.replace(batch_size=1, preview_interval=1)
    if kind == "lcm":
        fast = fast.replace(
            sampler="lcm", schedule="normal", steps=min(request.steps, FAST_STEPS), cfg_scale=1.0
        )
    elif kind == "few-step":
        # Turbo / Lightning / Hyper are trained for t = 999 first: the trailing spacing, guidance off.
        fast = fast.replace(
            sampler="euler", schedule="trailing", steps=min(request.steps, FAST_STEPS), cfg_scale=1.0
        )
    return LiveSettings(fast, kind, because)
