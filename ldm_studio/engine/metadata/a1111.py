"""A1111's "infotext": the `parameters` text Civitai and most image tools read, written and parsed.

The parameter-line grammar and the sampler names are A1111's own (what its files say), not our labels.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ldm_studio.engine.metadata.controlnet_text import parse_units
from ldm_studio.engine.metadata.fields import convert
from ldm_studio.engine.requests import GenerationRequest

# How A1111 names our samplers in "Sampler:" (the GUI's labels are its own: gui/panels/prompt.py).
A1111_SAMPLER_NAMES: dict[str, str] = {
    "ddim": "DDIM",
    "plms": "PLMS",
    "euler": "Euler",
    "euler_a": "Euler a",
    "heun": "Heun",
    "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_sde": "DPM++ 2M SDE",
    "lcm": "LCM",
}
# A1111's "Schedule type" names ours (written only when not the sampler's own, "Automatic", one).
A1111_SCHEDULE_NAMES: dict[str, str] = {"karras": "Karras", "trailing": "SGM Uniform"}
_SCHEDULES_BY_A1111_NAME = {display.lower(): name for name, display in A1111_SCHEDULE_NAMES.items()}
# CFG rescale φ: the A1111 CFG Rescale extension writes "CFG Rescale" (older versions "CFG Rescale φ" or
# "CFG Rescale phi", as sd-webui-neutral-prompt does); Forge's built-in one writes "Rescale CFG".
CFG_RESCALE_KEY = "CFG Rescale"
_CFG_RESCALE_KEYS = (CFG_RESCALE_KEY, "CFG Rescale φ", "CFG Rescale phi", "Rescale CFG")
# Ours (A1111 writes nothing for its outpainting scripts): how an outpaint canvas was extended.
OUTPAINT_KEY = "Outpaint"
# How A1111 names hires fix's upscalers in "Hires upscaler:" (an x4 checkpoint: its file stem).
A1111_UPSCALER_NAMES: dict[str, str] = {
    "latent": "Latent",
    "latent-bicubic": "Latent (bicubic)",
    "latent-nearest-exact": "Latent (nearest-exact)",
    "lanczos": "Lanczos",
}
_UPSCALERS_BY_A1111_NAME = {display.lower(): name for name, display in A1111_UPSCALER_NAMES.items()}
_SAMPLERS_BY_A1111_NAME = {display.lower(): name for name, display in A1111_SAMPLER_NAMES.items()}

# The parameter-line grammar A1111 itself parses with (docs/MODEL_FACTS.md), kept as the reference that
# find_parameters must agree with: its findall is quadratic on a long line without a colon ("a " * 30000
# blocks for seconds), as every start position re-reads the key run to the end of the line.
PARAM_PATTERN = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
# The same pairs in one finditer pass: a match is either a parameter (the key run taken possessively:
# ':' is not a key character, so a key can only end where its run ends) or the stretch findall would
# have retried position by position and failed on (a whole run of key characters, or one other
# character), eaten at once. A quoted value ends at the first unescaped quote; a value's opening quote
# follows ':' or a space, never a backslash, so no two quoted scans overlap. Together: linear time.
_PARAM_SCAN = re.compile(
    r"""\s*+(?:
        (\w[\w \-/]++):\s*+("(?:[^\\"]++|\\[^\n])++"(?=,|$)|[^,]*+)(?:,|$)
        | \w[\w \-/]*+ | (?s:.) | \Z
    )""",
    re.VERBOSE,
)
_SIZE_PATTERN = re.compile(r"^(\d+)x(\d+)$")
_NEGATIVE_PREFIX = "Negative prompt:"


def _quote(value: str) -> str:
    # A1111 JSON-quotes exactly the values that would break its own parameter-line grammar.
    if any(c in value for c in ",:\n"):
        return json.dumps(value, ensure_ascii=False)
    return value


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        return decoded if isinstance(decoded, str) else value
    return value


def _number(value: float) -> str:
    """7.0 -> "7", 0.75 -> "0.75": the short forms people type and other tools print."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def format_infotext(
    request: GenerationRequest,
    *,
    seed: int,
    model_name: str = "",
    model_hash: str = "",
    version: str = "",
    size: tuple[int, int] | None = None,
    lora_hashes: dict[str, str] | None = None,
    ti_hashes: dict[str, str] | None = None,
    refiner_hash: str = "",
    controlnets: dict[str, str] | None = None,
) -> str:
    """The A1111 `parameters` text for one image generated from `request` with `seed`.

    `lora_hashes` / `ti_hashes`: {name: 12-hex short hash} of the LoRAs and embeddings used, written as
    A1111 writes them (`Lora hashes: "a: 0123456789ab, b: …"`); the `<lora:…>` tags stay in the prompt.

    `size` is the image's own (width, height) where it differs from the request's: an upscale's output,
    an "only masked" inpaint of a bigger picture.

    An SDXL refiner hand-off is written as A1111 does: `Refiner: <name> [<hash>], Refiner switch at: 0.8`
    (the name is the refiner file's stem, the hash `refiner_hash`: A1111's 10-hex short hash).
    `controlnets`: {"ControlNet N": unit text} (metadata.controlnet_text), written as the extension does."""
    params: dict[str, str] = {
        "Steps": str(request.steps),
        "Sampler": A1111_SAMPLER_NAMES.get(request.sampler, request.sampler),
    }
    # A1111 writes a schedule type only when it is not the sampler's own ("Automatic") one.
    if request.schedule in A1111_SCHEDULE_NAMES:
        params["Schedule type"] = A1111_SCHEDULE_NAMES[request.schedule]
    params["CFG scale"] = _number(request.cfg_scale)
    if request.cfg_rescale:
        params[CFG_RESCALE_KEY] = _number(request.cfg_rescale)
    params["Seed"] = str(seed)
    width, height = size or (request.width, request.height)
    params["Size"] = f"{width}x{height}"
    if model_hash:
        params["Model hash"] = model_hash
    if model_name:
        params["Model"] = model_name
    if request.varies:  # A1111 writes both only for a strength above 0
        params["Variation seed"] = str(request.variation_seed)
        params["Variation seed strength"] = _number(request.variation_strength)
    if request.refiner:
        name = refiner_name(request.refiner)
        params["Refiner"] = f"{name} [{refiner_hash}]" if refiner_hash else name
        params["Refiner switch at"] = _number(request.refiner_switch)
    if request.mode in ("img2img", "inpaint"):
        params["Denoising strength"] = _number(request.strength)
    elif request.hires and request.mode == "txt2img":
        params["Denoising strength"] = _number(request.hires_denoise)
        params["Hires upscale"] = _number(request.hires_scale)
        if request.hires_steps:
            params["Hires steps"] = str(request.hires_steps)
        upscaler = request.hires_upscaler
        params["Hires upscaler"] = A1111_UPSCALER_NAMES.get(upscaler) or refiner_name(upscaler)
    if request.mode == "inpaint":
        params["Mask blur"] = str(request.mask_blur)
        if request.inpaint_only_masked:
            params["Inpaint area"] = "Only masked"
            params["Masked area padding"] = str(request.inpaint_padding)
        if request.soft_inpainting:
            params["Soft inpainting enabled"] = "True"  # A1111's soft inpainting writes exactly this
        if request.outpaint:
            params[OUTPAINT_KEY] = request.outpaint
    if request.mode == "upscale":
        params["Noise level"] = str(request.noise_level)
    if request.sampler == "ddim" and request.eta:
        params["Eta DDIM"] = _number(request.eta)
    params.update(controlnets or {})
    if lora_hashes:
        params["Lora hashes"] = format_hash_list(lora_hashes)
    if ti_hashes:
        params["TI hashes"] = format_hash_list(ti_hashes)
    if version:
        params["Version"] = version

    lines = [request.prompt] if request.prompt else []
    if request.negative_prompt:
        lines.append(f"{_NEGATIVE_PREFIX} {request.negative_prompt}")
    lines.append(", ".join(f"{key}: {_quote(value)}" for key, value in params.items()))
    return "\n".join(lines)


def refiner_name(path: str) -> str:
    """A refiner path as A1111 names it: the file's stem (no folder, no extension)."""
    stem = path.replace("\\", "/").rsplit("/", 1)[-1]
    for ext in (".safetensors", ".ckpt", ".pt"):
        if stem.lower().endswith(ext):
            return stem[: -len(ext)]
    return stem


_REFINER_VALUE = re.compile(r"^(.*?)(?:\s*\[([0-9a-fA-F]+)\])?$")


def find_parameters(line: str) -> list[tuple[str, str]]:
    """`PARAM_PATTERN.findall(line)` in linear time (see _PARAM_SCAN)."""
    return [(m[1], m[2]) for m in _PARAM_SCAN.finditer(line) if m[1] is not None]


def format_hash_list(hashes: dict[str, str]) -> str:
    """{name: hash} as A1111's "Lora hashes" / "TI hashes" value: `name: hash, name: hash`."""
    return ", ".join(f"{name}: {value}" for name, value in hashes.items())


def parse_hash_list(value: str) -> dict[str, str]:
    """The inverse of `format_hash_list` (the value already unquoted); malformed entries are skipped."""
    hashes = {}
    for entry in value.split(","):
        name, colon, digest = entry.rpartition(":")
        if colon and name.strip() and digest.strip():
            hashes[name.strip()] = digest.strip()
    return hashes


def parse_infotext(text: str) -> dict[str, str]:
    """Split an A1111 infotext into "Prompt", "Negative prompt" and its named parameters (raw strings)."""
    *lines, last = text.strip().replace("\r\n", "\n").split("\n")
    found = find_parameters(last)
    # Like A1111: a last line with fewer than 3 parameters is still part of the prompt.
    if len(found) < 3:
        lines.append(last)
        found = []

    prompt: list[str] = []
    negative: list[str] = []
    for line in lines:
        if not negative and line.strip().startswith(_NEGATIVE_PREFIX):
            negative.append(line.strip()[len(_NEGATIVE_PREFIX) :].strip())
        elif negative:
            negative.append(line)
        else:
            prompt.append(line)

    result = {"Prompt": "\n".join(prompt).strip(), "Negative prompt": "\n".join(negative).strip()}
    for key, value in found:
        result[key.strip()] = _unquote(value.strip())
    return result


def _sampler_and_schedule(display: str) -> tuple[str | None, str | None]:
    """Our sampler for an A1111 name; old A1111 versions wrote the schedule into it ("DPM++ 2M Karras")."""
    name = display.strip().lower()
    if name in _SAMPLERS_BY_A1111_NAME:
        return _SAMPLERS_BY_A1111_NAME[name], None
    if name.endswith(" karras") and name[: -len(" karras")] in _SAMPLERS_BY_A1111_NAME:
        return _SAMPLERS_BY_A1111_NAME[name[: -len(" karras")]], "karras"
    return None, None


def request_from_infotext(text: str) -> GenerationRequest:
    """A request with the settings an A1111 infotext names; anything missing or unreadable keeps its default.

    The model is left empty: the text names a model and hash, not a file on this machine.
    """
    params = parse_infotext(text)
    fields: dict[str, Any] = {"prompt": params["Prompt"], "negative_prompt": params["Negative prompt"]}
    convert(params, "Steps", int, fields, "steps")
    convert(params, "CFG scale", float, fields, "cfg_scale")
    convert(params, "Seed", int, fields, "seed")
    convert(params, "Denoising strength", float, fields, "strength")
    convert(params, "Mask blur", int, fields, "mask_blur")
    convert(params, "Masked area padding", int, fields, "inpaint_padding")
    convert(params, "Noise level", int, fields, "noise_level")
    convert(params, "Eta DDIM", float, fields, "eta")
    convert(params, "Variation seed", int, fields, "variation_seed")
    convert(params, "Variation seed strength", float, fields, "variation_strength")
    if not 0.0 <= fields.get("variation_strength", 0.0) <= 1.0:
        del fields["variation_strength"]
    # "Refiner: name [hash]": the name, not a path (as for "Model"); callers look it up in their models.
    refiner = _REFINER_VALUE.match(params.get("Refiner", "").strip())
    if refiner and refiner.group(1):
        fields["refiner"] = refiner.group(1)
        convert(params, "Refiner switch at", float, fields, "refiner_switch")
        if not 0.0 < fields.get("refiner_switch", 0.8) < 1.0:
            del fields["refiner_switch"]

    sampler, schedule = _sampler_and_schedule(params.get("Sampler", ""))
    if sampler:
        fields["sampler"] = sampler
    schedule = _SCHEDULES_BY_A1111_NAME.get(params.get("Schedule type", "").strip().lower(), schedule)
    if schedule:
        fields["schedule"] = schedule
    for key in reversed(_CFG_RESCALE_KEYS):  # the first key present wins
        convert(params, key, float, fields, "cfg_rescale")
    if not 0.0 <= fields.get("cfg_rescale", 0.0) <= 1.0:
        del fields["cfg_rescale"]
    size = _SIZE_PATTERN.match(params.get("Size", "").strip())
    if size:
        fields["width"], fields["height"] = int(size.group(1)), int(size.group(2))
    fields["inpaint_only_masked"] = params.get("Inpaint area", "").lower() == "only masked"
    fields["soft_inpainting"] = params.get("Soft inpainting enabled", "").strip().lower() == "true"
    if params.get(OUTPAINT_KEY, "").strip():
        fields["outpaint"] = params[OUTPAINT_KEY].strip()
    fields["controlnets"] = parse_units(params)  # model names, which callers look up in their folder
    if "Hires upscale" in params:  # the size written is the first pass's, as A1111 writes it
        fields["hires"] = True
        convert(params, "Hires upscale", float, fields, "hires_scale")
        convert(params, "Hires steps", int, fields, "hires_steps")
        if "strength" in fields:
            fields["hires_denoise"] = fields.pop("strength")
        label = params.get("Hires upscaler", "").strip()
        if label:  # another tool's upscaler keeps its name: the run then says it does not know it
            fields["hires_upscaler"] = _UPSCALERS_BY_A1111_NAME.get(label.lower(), label)

    # A1111 names no mode; the mode-only parameters tell it (hires fix also writes a denoising strength).
    if "Noise level" in params:
        fields["mode"] = "upscale"
    elif "Mask blur" in params:
        fields["mode"] = "inpaint"
    elif "Denoising strength" in params and "Hires upscale" not in params:
        fields["mode"] = "img2img"
    return GenerationRequest(**fields)
