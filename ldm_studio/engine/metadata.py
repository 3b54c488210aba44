"""Generation parameters in PNG files: written the A1111 way, read back from ours, A1111 and ComfyUI.

Two chunks are written. `parameters` is the A1111 "infotext" that Civitai and most image tools read;
`ldm_studio` is our own request as JSON, so our files reload every setting exactly, including the
ones A1111 has no name for.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import re
from pathlib import Path
from typing import IO, Any

from PIL import Image, PngImagePlugin, UnidentifiedImageError

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.requests import MODES, SAMPLERS, SCHEDULES, GenerationRequest

OUR_CHUNK = "ldm_studio"
A1111_CHUNK = "parameters"
COMFYUI_CHUNK = "prompt"

SAMPLER_DISPLAY_NAMES: dict[str, str] = {
    "ddim": "DDIM",
    "plms": "PLMS",
    "euler": "Euler",
    "euler_a": "Euler a",
    "heun": "Heun",
    "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_sde": "DPM++ 2M SDE",
}
_SAMPLERS_BY_DISPLAY_NAME = {display.lower(): name for name, display in SAMPLER_DISPLAY_NAMES.items()}

# ComfyUI's sampler names, where they differ from ours ("_gpu" variants only change where noise is drawn).
_COMFYUI_SAMPLERS = {"euler_ancestral": "euler_a", "dpmpp_2m_sde_gpu": "dpmpp_2m_sde"}

# The parameter-line grammar A1111 itself parses with (REFERENCE §6).
PARAM_PATTERN = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
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
) -> str:
    """The A1111 `parameters` text for one image generated from `request` with `seed`.

    `size` is the image's own (width, height) where it differs from the request's: an upscale's output,
    an "only masked" inpaint of a bigger picture."""
    params: dict[str, str] = {
        "Steps": str(request.steps),
        "Sampler": SAMPLER_DISPLAY_NAMES.get(request.sampler, request.sampler),
    }
    # A1111 writes a schedule type only when it is not the sampler's own ("Automatic") one.
    if request.schedule == "karras":
        params["Schedule type"] = "Karras"
    params["CFG scale"] = _number(request.cfg_scale)
    params["Seed"] = str(seed)
    width, height = size or (request.width, request.height)
    params["Size"] = f"{width}x{height}"
    if model_hash:
        params["Model hash"] = model_hash
    if model_name:
        params["Model"] = model_name
    if request.mode in ("img2img", "inpaint"):
        params["Denoising strength"] = _number(request.strength)
    if request.mode == "inpaint":
        params["Mask blur"] = str(request.mask_blur)
        if request.inpaint_only_masked:
            params["Inpaint area"] = "Only masked"
            params["Masked area padding"] = str(request.inpaint_padding)
    if request.mode == "upscale":
        params["Noise level"] = str(request.noise_level)
    if request.sampler == "ddim" and request.eta:
        params["Eta DDIM"] = _number(request.eta)
    if version:
        params["Version"] = version

    lines = [request.prompt] if request.prompt else []
    if request.negative_prompt:
        lines.append(f"{_NEGATIVE_PREFIX} {request.negative_prompt}")
    lines.append(", ".join(f"{key}: {_quote(value)}" for key, value in params.items()))
    return "\n".join(lines)


def parse_infotext(text: str) -> dict[str, str]:
    """Split an A1111 infotext into "Prompt", "Negative prompt" and its named parameters (raw strings)."""
    *lines, last = text.strip().replace("\r\n", "\n").split("\n")
    found = PARAM_PATTERN.findall(last)
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
    if name in _SAMPLERS_BY_DISPLAY_NAME:
        return _SAMPLERS_BY_DISPLAY_NAME[name], None
    if name.endswith(" karras") and name[: -len(" karras")] in _SAMPLERS_BY_DISPLAY_NAME:
        return _SAMPLERS_BY_DISPLAY_NAME[name[: -len(" karras")]], "karras"
    return None, None


def _to_int(value: Any) -> int:
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())  # exact, even for seeds beyond float precision
    except ValueError:
        return int(float(value))  # "20.0"


def _to_float(value: Any) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {value!r}")
    return number


def _convert(values: dict[str, Any], key: str, kind: type, target: dict[str, Any], field: str) -> None:
    """Copy values[key] into target[field] as int or float, skipping a value that does not convert."""
    if key not in values or isinstance(values[key], (bool, list, dict)):
        return
    with contextlib.suppress(TypeError, ValueError, OverflowError):
        target[field] = _to_int(values[key]) if kind is int else _to_float(values[key])


def request_from_infotext(text: str) -> GenerationRequest:
    """A request with the settings an A1111 infotext names; anything missing or unreadable keeps its default.

    The model is left empty: the text names a model and hash, not a file on this machine.
    """
    params = parse_infotext(text)
    fields: dict[str, Any] = {"prompt": params["Prompt"], "negative_prompt": params["Negative prompt"]}
    _convert(params, "Steps", int, fields, "steps")
    _convert(params, "CFG scale", float, fields, "cfg_scale")
    _convert(params, "Seed", int, fields, "seed")
    _convert(params, "Denoising strength", float, fields, "strength")
    _convert(params, "Mask blur", int, fields, "mask_blur")
    _convert(params, "Masked area padding", int, fields, "inpaint_padding")
    _convert(params, "Noise level", int, fields, "noise_level")
    _convert(params, "Eta DDIM", float, fields, "eta")

    sampler, schedule = _sampler_and_schedule(params.get("Sampler", ""))
    if sampler:
        fields["sampler"] = sampler
    if params.get("Schedule type", "").strip().lower() == "karras" or schedule == "karras":
        fields["schedule"] = "karras"
    size = _SIZE_PATTERN.match(params.get("Size", "").strip())
    if size:
        fields["width"], fields["height"] = int(size.group(1)), int(size.group(2))
    fields["inpaint_only_masked"] = params.get("Inpaint area", "").lower() == "only masked"

    # A1111 names no mode; the mode-only parameters tell it (hires fix also writes a denoising strength).
    if "Noise level" in params:
        fields["mode"] = "upscale"
    elif "Mask blur" in params:
        fields["mode"] = "inpaint"
    elif "Denoising strength" in params and "Hires upscale" not in params:
        fields["mode"] = "img2img"
    return GenerationRequest(**fields)


def _request_from_our_json(text: str) -> GenerationRequest | None:
    try:
        values = json.loads(text)
    except ValueError:
        return None
    if not isinstance(values, dict):
        return None
    # Keep only values of the field's type, so a damaged or foreign chunk cannot smuggle in a bad type.
    choices = {"mode": MODES, "sampler": SAMPLERS, "schedule": SCHEDULES}
    defaults = {f.name: f.default for f in dataclasses.fields(GenerationRequest)}
    clean: dict[str, Any] = {}
    for key, value in values.items():
        if key not in defaults or key in ("init_image", "mask"):
            continue
        default = defaults[key]
        if default is None:
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


def _comfy_node(graph: dict[str, Any], link: Any) -> dict[str, Any] | None:
    # An input that comes from another node is written as [node_id, output_index].
    if isinstance(link, list) and link and isinstance(graph.get(str(link[0])), dict):
        return graph[str(link[0])]
    return None


def _comfy_text(graph: dict[str, Any], link: Any, depth: int = 0) -> str | None:
    """The prompt text behind a conditioning or text input, through primitive/string nodes."""
    node = _comfy_node(graph, link)
    if node is None or depth > 8:
        return None
    inputs = node.get("inputs") or {}
    for key in ("text", "value", "string", "text_g"):
        value = inputs.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, list):
            return _comfy_text(graph, value, depth + 1)
    return None


def request_from_comfyui(text: str) -> GenerationRequest | None:
    """Settings from a ComfyUI `prompt` chunk (the API-format graph: {id: {class_type, inputs}})."""
    try:
        graph = json.loads(text)
    except ValueError:
        return None
    if not isinstance(graph, dict):
        return None
    samplers = [
        node
        for _, node in sorted(graph.items(), key=lambda item: str(item[0]).zfill(12))
        if isinstance(node, dict) and node.get("class_type") in ("KSampler", "KSamplerAdvanced")
    ]
    if not samplers:
        return None
    inputs = samplers[0].get("inputs") or {}

    fields: dict[str, Any] = {}
    _convert(inputs, "seed" if "seed" in inputs else "noise_seed", int, fields, "seed")
    _convert(inputs, "steps", int, fields, "steps")
    _convert(inputs, "cfg", float, fields, "cfg_scale")
    sampler = str(inputs.get("sampler_name", ""))
    sampler = _COMFYUI_SAMPLERS.get(sampler, sampler)
    if sampler in SAMPLERS:
        fields["sampler"] = sampler
    if inputs.get("scheduler") == "karras":
        fields["schedule"] = "karras"
    for key, field in (("positive", "prompt"), ("negative", "negative_prompt")):
        text_value = _comfy_text(graph, inputs.get(key))
        if text_value is not None:
            fields[field] = text_value

    latent = _comfy_node(graph, inputs.get("latent_image")) or {}
    latent_type = str(latent.get("class_type", ""))
    latent_inputs = latent.get("inputs") or {}
    if latent_type == "EmptyLatentImage":
        _convert(latent_inputs, "width", int, fields, "width")
        _convert(latent_inputs, "height", int, fields, "height")
        _convert(latent_inputs, "batch_size", int, fields, "batch_size")
    elif latent_type in ("VAEEncodeForInpaint", "SetLatentNoiseMask"):
        fields["mode"] = "inpaint"
    elif latent_type == "VAEEncode":
        fields["mode"] = "img2img"
    if fields.get("mode") in ("img2img", "inpaint"):
        _convert(inputs, "denoise", float, fields, "strength")
    return GenerationRequest(**fields)


def _shareable(request: GenerationRequest) -> dict[str, Any]:
    """The request without local folders: images get shared, and a path can name the user's account."""
    values = request.to_dict()
    for key in ("model", "vae"):
        if values.get(key):
            values[key] = Path(values[key]).name
    return values


def write_png(
    path: str | Path | IO[bytes], image: Image.Image, infotext: str, request: GenerationRequest
) -> None:
    """Save `image` as PNG with the A1111 `parameters` chunk and our full request as JSON."""
    info = PngImagePlugin.PngInfo()
    try:
        # tEXt where the text allows: some readers skip iTXt.
        info.add_text(A1111_CHUNK, infotext.encode("latin-1"))
    except UnicodeEncodeError:
        info.add_itxt(A1111_CHUNK, infotext)
    # ASCII-only JSON always fits a tEXt chunk.
    info.add_text(OUR_CHUNK, json.dumps(_shareable(request), ensure_ascii=True).encode("ascii"))
    image.save(path, format="PNG", pnginfo=info)


def _text_chunks(image: Image.Image) -> dict[str, str]:
    chunks = getattr(image, "text", None)
    if chunks is None:
        chunks = image.info
    return {key: value for key, value in chunks.items() if isinstance(value, str)}


def read_png_request(source: str | Path | Image.Image) -> GenerationRequest | None:
    """The request stored in an image: ours first, then A1111 `parameters`, then ComfyUI; None if none."""
    if isinstance(source, Image.Image):
        chunks = _text_chunks(source)
    else:
        try:
            with Image.open(source) as image:
                chunks = _text_chunks(image)
        except FileNotFoundError as exc:
            raise InputError(f"Cannot read parameters: {source} does not exist.") from exc
        except (UnidentifiedImageError, OSError) as exc:
            raise InputError(f"Cannot read parameters: {source} is not a readable image ({exc}).") from exc

    if OUR_CHUNK in chunks:
        request = _request_from_our_json(chunks[OUR_CHUNK])
        if request is not None:
            return request
    if chunks.get(A1111_CHUNK, "").strip():
        return request_from_infotext(chunks[A1111_CHUNK])
    if COMFYUI_CHUNK in chunks:
        return request_from_comfyui(chunks[COMFYUI_CHUNK])
    return None


# The name docs/INTERFACES.md uses.
read_png_parameters = read_png_request
