"""Settings from a ComfyUI `prompt` chunk: the API-format graph {id: {class_type, inputs}} it saves."""

from __future__ import annotations

from typing import Any

from ldm_studio.engine import json_text
from ldm_studio.engine.errors import InputError
from ldm_studio.engine.metadata.fields import convert
from ldm_studio.engine.requests import SAMPLERS, GenerationRequest

COMFYUI_CHUNK = "prompt"

# ComfyUI's sampler names, where they differ from ours ("_gpu" variants only change where noise is drawn).
_COMFYUI_SAMPLERS = {"euler_ancestral": "euler_a", "dpmpp_2m_sde_gpu": "dpmpp_2m_sde"}
# ComfyUI's schedulers that are ours ("sgm_uniform" is the trailing spacing's idea).
_COMFYUI_SCHEDULES = {"karras": "karras", "sgm_uniform": "trailing"}


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
        graph = json_text.loads(text, finite=False)  # Python's json.dumps writes NaN
    except json_text.JsonTooDeep as exc:
        raise InputError(f"Cannot read parameters: the image's ComfyUI graph is damaged ({exc}).") from None
    except json_text.JsonError:
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
    convert(inputs, "seed" if "seed" in inputs else "noise_seed", int, fields, "seed")
    convert(inputs, "steps", int, fields, "steps")
    convert(inputs, "cfg", float, fields, "cfg_scale")
    sampler = str(inputs.get("sampler_name", ""))
    sampler = _COMFYUI_SAMPLERS.get(sampler, sampler)
    if sampler in SAMPLERS:
        fields["sampler"] = sampler
    schedule = _COMFYUI_SCHEDULES.get(str(inputs.get("scheduler", "")))
    if schedule:
        fields["schedule"] = schedule
    for key, field in (("positive", "prompt"), ("negative", "negative_prompt")):
        text_value = _comfy_text(graph, inputs.get(key))
        if text_value is not None:
            fields[field] = text_value

    latent = _comfy_node(graph, inputs.get("latent_image")) or {}
    latent_type = str(latent.get("class_type", ""))
    latent_inputs = latent.get("inputs") or {}
    if latent_type == "EmptyLatentImage":
        convert(latent_inputs, "width", int, fields, "width")
        convert(latent_inputs, "height", int, fields, "height")
        convert(latent_inputs, "batch_size", int, fields, "batch_size")
    elif latent_type in ("VAEEncodeForInpaint", "SetLatentNoiseMask"):
        fields["mode"] = "inpaint"
    elif latent_type == "VAEEncode":
        fields["mode"] = "img2img"
    if fields.get("mode") in ("img2img", "inpaint"):
        convert(inputs, "denoise", float, fields, "strength")
    return GenerationRequest(**fields)
