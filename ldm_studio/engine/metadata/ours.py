"""Our own `ldm_studio` chunk: the whole request as JSON, so our files reload every setting exactly."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ldm_studio.engine import json_text
from ldm_studio.engine.errors import InputError
from ldm_studio.engine.metadata.controlnet_text import units_from_json
from ldm_studio.engine.requests import MODES, SAMPLERS, SCHEDULES, GenerationRequest

OUR_CHUNK = "ldm_studio"
_OPTIONAL_INTS = ("variation_seed",)  # fields of type int | None (the others defaulting to None are str)


def request_from_our_json(text: str) -> GenerationRequest | None:
    """The request in our chunk; None if it is not ours or damaged, InputError if it is hostile."""
    try:
        values = json_text.loads(text)
    except json_text.JsonTooDeep as exc:
        raise InputError(
            f"Cannot read parameters: the image's {OUR_CHUNK} text is damaged ({exc})."
        ) from None
    except json_text.JsonError:
        return None
    if not isinstance(values, dict):
        return None
    # Keep only values of the field's type, so a damaged or foreign chunk cannot smuggle in a bad type.
    choices = {"mode": MODES, "sampler": SAMPLERS, "schedule": SCHEDULES}
    defaults = {f.name: f.default for f in dataclasses.fields(GenerationRequest)}
    clean: dict[str, Any] = {}
    clean["controlnets"] = units_from_json(values.pop("controlnets", None))
    for key, value in values.items():
        if key not in defaults or key in ("init_image", "mask"):
            continue
        default = defaults[key]
        if key in _OPTIONAL_INTS:
            ok = value is None or (isinstance(value, int) and not isinstance(value, bool))
        elif default is None:
            ok = value is None or isinstance(value, str)
        elif isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = type(value) is type(default)
        if key in choices and value not in choices[key]:
            ok = False
        if ok:
            clean[key] = float(value) if isinstance(default, float) else value
    return GenerationRequest.from_dict(clean)


def shareable_json(request: GenerationRequest) -> dict[str, Any]:
    """The request without local folders: images get shared, and a path can name the user's account."""
    values = request.to_dict()
    for key in ("model", "vae"):
        if values.get(key):
            values[key] = Path(values[key]).name
    for key in ("lora_dir", "embeddings_dir"):
        values[key] = None
    values["loras"] = [[Path(path).name, te, unet] for path, te, unet in values.get("loras", ())]
    for unit in values.get("controlnets", ()):
        unit["file"], unit["image"] = (
            Path(unit["file"]).stem,
            Path(unit["image"]).name if unit["image"] else "",
        )
    return values
