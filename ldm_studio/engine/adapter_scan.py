"""The LoRA and embedding files a user has, as the window lists them: Qt-free and torch-free.

One safetensors header read per file (names, shapes, metadata; no tensor is read), so a folder of
hundreds of LoRAs lists in a blink. The family is told as the adapter reader tells it (text tower 2 →
SDXL, the cross-attention context width, the first text layer's width, then kohya / modelspec
metadata); a pickled .pt/.ckpt/.bin cannot be read without unpickling and is listed with family
unknown. Trigger words are the most frequent `ss_tag_frequency` tags. A preview is the picture beside the
file: NAME.preview.png, NAME.png (and .jpg/.jpeg/.webp), as A1111's extra-networks pages look for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ldm_studio.engine.json_text import JsonError, loads

ADAPTER_SUFFIXES = (".safetensors", ".pt", ".ckpt", ".bin")
FAMILY_NAMES = {"sd1": "SD 1.x", "sd2": "SD 2.x", "sdxl": "SDXL"}
_PREVIEW_SUFFIXES = (".preview.png", ".png", ".preview.jpg", ".jpg", ".jpeg", ".webp")
_MAX_HEADER = 100 * 2**20
_CONTEXT_FAMILY = {768: "sd1", 1024: "sd2", 2048: "sdxl", 1280: "sdxl"}
_TEXT_FAMILY = {768: "sd1", 1024: "sd2"}
_TEXT_INPUT_LAYERS = ("self_attn_q_proj", "self_attn_k_proj", "self_attn_v_proj", "mlp_fc1")
_DOWN_SUFFIXES = (
    ".lora_down.weight",
    ".lora_A.weight",
    ".lora.down.weight",
    ".lora_linear_layer.down.weight",
    ".hada_w1_b",
)
_PEFT_PREFIXES = {"unet.": "lora_unet_", "text_encoder.": "lora_te1_", "text_encoder_2.": "lora_te2_"}


@dataclass(frozen=True)
class AdapterEntry:
    path: Path
    kind: str  # "lora" or "embedding"
    family: str | None = None  # "sd1" / "sd2" / "sdxl"; None when the file does not tell
    triggers: tuple[str, ...] = ()
    preview: Path | None = None
    problem: str = ""  # why the file cannot be read; "" when it can
    vectors: int | None = field(default=None)  # embeddings: token slots the word takes

    @property
    def name(self) -> str:
        return self.path.stem


def base_family(model_family: str | None) -> str | None:
    """sd1 / sd2 / sdxl for a model family name (inpaint, v and refiner variants included), else None."""
    head = (model_family or "").split("-", 1)[0]
    return head if head in FAMILY_NAMES else None


def incompatibility(entry: AdapterEntry, model_family: str | None) -> str:
    """Why `entry` cannot be used with a model of `model_family` ("" when it can, or nobody can tell)."""
    if entry.problem:
        return entry.problem
    ours = base_family(model_family)
    if entry.family is None or ours is None or entry.family == ours:
        return ""
    what = "LoRA" if entry.kind == "lora" else "embedding"
    return f"this {what} is for {FAMILY_NAMES[entry.family]}, the chosen model is {FAMILY_NAMES[ours]}"


def scan_adapters(folder: str | Path | None, kind: str) -> list[AdapterEntry]:
    """Every adapter-type file under `folder` (subfolders too), sorted by relative path; [] if no folder."""
    if folder is None or not Path(folder).is_dir():
        return []
    folder = Path(folder)
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [
            Path(root, f) for f in files if f.lower().endswith(ADAPTER_SUFFIXES) and not f.startswith(".")
        ]
    found.sort(key=lambda p: str(p.relative_to(folder)).lower())
    return [inspect_adapter(path, kind) for path in found]


def inspect_adapter(path: Path, kind: str) -> AdapterEntry:
    preview = find_preview(path)
    if path.suffix.lower() != ".safetensors":
        return AdapterEntry(path, kind, preview=preview)  # pickled: nothing to tell without unpickling
    try:
        shapes, metadata = read_header(path)
    except (OSError, ValueError) as exc:
        return AdapterEntry(path, kind, preview=preview, problem=f"{path.name} cannot be read: {exc}")
    if kind == "embedding":
        family, vectors = embedding_family(shapes)
        return AdapterEntry(path, kind, family, preview=preview, vectors=vectors)
    return AdapterEntry(path, kind, lora_family(shapes, metadata), trigger_words(metadata), preview)


def adapter_kind(path: Path) -> str | None:
    """ "lora" or "embedding" for a safetensors adapter file, None for anything else (a checkpoint)."""
    if path.suffix.lower() != ".safetensors":
        return None
    try:
        shapes, _ = read_header(path)
    except (OSError, ValueError):
        return None
    if set(shapes) in ({"emb_params"}, {"clip_l", "clip_g"}):
        return "embedding"
    lora_parts = (
        "lora_down",
        "lora_up",
        "lora_A",
        "lora_B",
        "hada_w",
        "lokr_w",
        "lora.down",
        "lora_linear_layer",
    )
    if any(key.startswith(("lora_unet_", "lora_te")) or any(p in key for p in lora_parts) for key in shapes):
        return "lora"
    return None


def find_preview(path: Path) -> Path | None:
    base = path.with_suffix("")
    for suffix in _PREVIEW_SUFFIXES:
        candidate = base.with_name(base.name + suffix)
        if candidate.is_file():
            return candidate
    return None


def read_header(path: Path) -> tuple[dict[str, list[int]], dict[str, str]]:
    """({tensor name: shape}, {metadata key: value}) of a safetensors file; ValueError if damaged."""
    with path.open("rb") as file:
        length = int.from_bytes(file.read(8), "little")
        if not 2 <= length <= _MAX_HEADER:
            raise ValueError("not a safetensors file")
        raw = file.read(length)
    if len(raw) < length:
        raise ValueError("the file is truncated")
    try:
        header = loads(raw)
    except (JsonError, UnicodeDecodeError) as exc:
        raise ValueError("its header is not valid JSON") from exc
    if not isinstance(header, dict):
        raise ValueError("its header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    metadata = {str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {}
    shapes = {
        name: [int(n) for n in info.get("shape", [])]
        for name, info in header.items()
        if isinstance(info, dict) and isinstance(info.get("shape"), list)
    }
    return shapes, metadata


def _module_name(module: str) -> str:
    """kohya `lora_te_` → `lora_te1_`, PEFT `unet.` / `text_encoder(_2).` → kohya prefixes, as the reader."""
    if module.startswith("lora_te_"):
        return "lora_te1_" + module.removeprefix("lora_te_")
    for prefix, kohya in _PEFT_PREFIXES.items():
        if module.startswith(prefix):
            return kohya + module.removeprefix(prefix).replace(".", "_")
    return module


def _input_widths(shapes: dict[str, list[int]]) -> dict[str, int]:
    """{module: the adapted layer's input width} from the down factors (LoRA, PEFT, LoHa)."""
    widths = {}
    for key, shape in shapes.items():
        for suffix in _DOWN_SUFFIXES:
            if key.endswith(suffix) and len(shape) >= 2:
                widths[_module_name(key[: -len(suffix)])] = shape[1]
    return widths


def lora_family(shapes: dict[str, list[int]], metadata: dict[str, str]) -> str | None:
    """sd1 / sd2 / sdxl from the shapes, else the metadata (None when neither tells)."""
    widths = _input_widths(shapes)
    modules = {_module_name(key.split(".", 1)[0]) for key in shapes} | set(widths)
    return family_from_widths(widths, modules, metadata)


def family_from_widths(widths: dict[str, int], modules: set[str], metadata: dict[str, str]) -> str | None:
    """The one rule (the engine's reader uses it too): a second text tower → SDXL; else the cross-attention
    context width; else the first text layer's width; else the kohya / modelspec metadata."""
    if any(m.startswith("lora_te2_") for m in modules):
        return "sdxl"
    for module, width in widths.items():
        cross_attention = module.startswith("lora_unet_") and module.endswith(("attn2_to_k", "attn2_to_v"))
        if cross_attention and width in _CONTEXT_FAMILY:
            return _CONTEXT_FAMILY[width]
    for module, width in widths.items():
        if module.startswith("lora_te1_") and module.endswith(_TEXT_INPUT_LAYERS) and width in _TEXT_FAMILY:
            return _TEXT_FAMILY[width]
    return family_from_metadata(metadata)


def family_from_metadata(metadata: dict[str, str]) -> str | None:
    version = metadata.get("ss_base_model_version", "").lower()
    architecture = metadata.get("modelspec.architecture", "").lower()
    if version.startswith("sdxl") or architecture.startswith("stable-diffusion-xl"):
        return "sdxl"
    if version.startswith("sd_v2") or architecture.startswith("stable-diffusion-v2"):
        return "sd2"
    if version.startswith("sd_v1") or architecture.startswith("stable-diffusion-v1"):
        return "sd1"
    return None


def embedding_family(shapes: dict[str, list[int]]) -> tuple[str | None, int | None]:
    """(family, token slots) of a safetensors embedding: clip_l + clip_g (SDXL) or emb_params."""
    if "clip_l" in shapes and "clip_g" in shapes:
        l_shape, g_shape = shapes["clip_l"], shapes["clip_g"]
        family = "sdxl" if (l_shape[-1], g_shape[-1]) == (768, 1280) else None
        return family, l_shape[0] if len(l_shape) == 2 else 1
    shape = shapes.get("emb_params") or (next(iter(shapes.values())) if len(shapes) == 1 else None)
    if not shape:
        return None, None
    return _TEXT_FAMILY.get(shape[-1]), shape[0] if len(shape) == 2 else 1


def trigger_words(metadata: dict[str, str], limit: int = 20) -> tuple[str, ...]:
    """The most frequent training tags (`ss_tag_frequency`: {dataset: {tag: count}}), most frequent first."""
    raw = metadata.get("ss_tag_frequency")
    if not raw:
        return ()
    try:
        datasets = loads(raw)
    except JsonError:
        return ()
    counts: dict[str, int] = {}
    for tags in datasets.values() if isinstance(datasets, dict) else ():
        for tag, count in tags.items() if isinstance(tags, dict) else ():
            tag = tag.strip()
            if tag and isinstance(count, int | float):
                counts[tag] = counts.get(tag, 0) + int(count)
    return tuple(sorted(counts, key=lambda tag: (-counts[tag], tag))[:limit])
