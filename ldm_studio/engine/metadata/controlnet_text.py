"""ControlNet units in A1111 infotext, as the sd-webui-controlnet extension writes them (torch-free).

One parameter per unit, JSON-quoted by the infotext writer because it holds commas and colons:
    ControlNet 0: "Module: canny, Model: control_v11p_sd15_canny [d14c016b], Weight: 1,
                   Resize Mode: Just Resize, Guidance Start: 0, Guidance End: 1, Control Mode: Balanced"
(on one line). The model is the file's stem with the first 8 hex of its sha256. Read back, the model
name becomes the unit's `file` (callers look it up in their controlnet folder); extension modules we
do not run map onto the nearest of ours (depth_zoe → depth, tile_resample → tile, …), unknown ones to none.
"""

from __future__ import annotations

import re

from ldm_studio.engine.requests import ControlNetUnit

MODE_NAMES = {
    "balanced": "Balanced",
    "prompt": "My prompt is more important",
    "control": "ControlNet is more important",
}
# Our preprocessors under the extension's names where it has the same one.
MODULE_NAMES = {"tile": "blur_gaussian", "inpaint": "inpaint_only"}
_MODULE_PREFIXES = (
    ("canny", "canny"), ("scribble", "scribble"), ("blur", "tile"), ("tile", "tile"), ("inpaint", "inpaint"),
    ("depth", "depth"), ("lineart", "lineart"), ("openpose", "openpose"), ("dw_openpose", "openpose"),
    ("normal", "normal"), ("none", "none"),
)  # fmt: skip
_UNIT_KEY = re.compile(r"^ControlNet (\d+)$")
_MODEL = re.compile(r"^(.*?)(?:\s*\[([0-9a-fA-F]+)\])?$")


def _number(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def format_unit(unit: ControlNetUnit, model_name: str, model_hash: str) -> str:
    """The value of one `ControlNet N` parameter (unquoted)."""
    model = f"{model_name} [{model_hash}]" if model_hash else model_name
    parts = {
        "Module": MODULE_NAMES.get(unit.module, unit.module),
        "Model": model,
        "Weight": _number(unit.weight),
        "Resize Mode": "Just Resize",
        "Guidance Start": _number(unit.start),
        "Guidance End": _number(unit.end),
        "Control Mode": MODE_NAMES.get(unit.mode, unit.mode),
    }
    return ", ".join(f"{key}: {value}" for key, value in parts.items())


def parse_units(params: dict[str, str]) -> tuple[ControlNetUnit, ...]:
    """The units named by `ControlNet N` parameters (values already unquoted), in N order."""
    found = []
    for key, value in params.items():
        match = _UNIT_KEY.match(key.strip())
        if match:
            unit = parse_unit(value)
            if unit is not None:
                found.append((int(match.group(1)), unit))
    return tuple(unit for _, unit in sorted(found, key=lambda item: item[0]))


def parse_unit(value: str) -> ControlNetUnit | None:
    """One unit from its `Key: value, …` text; None when it names no model."""
    fields: dict[str, str] = {}
    for part in value.split(", "):
        key, colon, text = part.partition(": ")
        if colon:
            fields[key.strip().lower()] = text.strip()
    model = _MODEL.match(fields.get("model", ""))
    name = model.group(1).strip() if model else ""
    if not name or name.lower() == "none":
        return None
    return ControlNetUnit(
        file=name,
        weight=_float(fields.get("weight"), 1.0),
        start=_float(fields.get("guidance start"), 0.0),
        end=_float(fields.get("guidance end"), 1.0),
        mode=_mode(fields.get("control mode", "")),
        module=_module(fields.get("module", "none")),
    )


def _float(text: str | None, default: float) -> float:
    try:
        value = float(text) if text is not None else default
    except ValueError:
        return default
    return value if value == value and abs(value) != float("inf") else default


def _mode(text: str) -> str:
    text = text.strip()
    by_name = {name.lower(): mode for mode, name in MODE_NAMES.items()}
    by_number = {"0": "balanced", "1": "prompt", "2": "control"}  # some API clients write the enum value
    return by_name.get(text.lower(), by_number.get(text, "balanced"))


def _module(text: str) -> str:
    lowered = text.strip().lower()
    for prefix, module in _MODULE_PREFIXES:
        if lowered.startswith(prefix):
            return module
    return "none"


def units_from_json(value: object) -> tuple[ControlNetUnit, ...]:
    """Units from our JSON chunk's `controlnets` list; entries of the wrong shape or types are skipped."""
    if not isinstance(value, list):
        return ()
    units = []
    for entry in value:
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str) or not entry["file"]:
            continue
        numbers = {k: entry.get(k) for k in ("weight", "start", "end") if k in entry}
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers.values()):
            continue
        texts = {k: entry[k] for k in ("image", "mode", "module") if isinstance(entry.get(k), str)}
        units.append(ControlNetUnit(file=entry["file"], **{k: float(v) for k, v in numbers.items()}, **texts))
    return tuple(units)
