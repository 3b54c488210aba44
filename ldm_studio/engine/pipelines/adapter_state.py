"""A request's LoRAs and embeddings made real on a loaded model, between runs.

`prepare_adapters(model, request)` resolves the `<lora:NAME:…>` tags of the positive prompt (NAME looked
up in `request.lora_dir`) and `request.loras`, reads each file once (again only when it changed on disk),
and makes the model's merged set equal that list: an `AdapterMerger` kept on the model, so the set
persists between runs, a changed weight or set is an exact undo + redo of the touched weights (never a
checkpoint reload), and a request without LoRAs gets the original weights back bit for bit. When the
text encoder's weights change, the remembered prompt encodings are dropped. Embeddings: the files in
`request.embeddings_dir` whose stem occurs in the prompt or the negative prompt.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from ldm_studio.engine.adapters.folders import adapter_files, resolve_lora_tags, words_in
from ldm_studio.engine.errors import InputError
from ldm_studio.engine.requests import GenerationRequest

_STATE_ATTRIBUTE = "adapter_state"  # on the LoadedModel: the merger goes with the model it changed
_BASE_FAMILIES = ("sd1", "sd2", "sdxl")


@dataclass(frozen=True)
class PreparedAdapters:
    """What a run needs from its adapters: the text to encode and what to write and report."""

    prompt: str  # the positive prompt without its <lora:…> tags
    embeddings: dict  # prompt word → Embedding, only those the prompts use
    lora_hashes: dict[str, str] = field(default_factory=dict)  # name → A1111 short hash
    ti_hashes: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class AdapterState:
    """The merger of one loaded model (made at its first LoRA) and the files it read, by path, size, mtime."""

    def __init__(self, components: dict) -> None:
        self._components = components
        self._merger = None
        self._files: dict[tuple[Path, bool], tuple[tuple[int, int], object]] = {}
        self.applied: list[tuple[object, float, float]] = []

    @property
    def merger(self):
        if self._merger is None:
            from ldm_studio.engine.adapters.merge import AdapterMerger

            self._merger = AdapterMerger(self._components)
        return self._merger

    @property
    def merged(self) -> bool:
        return bool(self.applied)

    def read(self, path: Path, embedding: bool = False):
        """The file read as a LoRA (or an embedding); read again only when it changed on disk."""
        from ldm_studio.engine.adapters.embeddings import read_embedding
        from ldm_studio.engine.adapters.lora_files import read_adapter_file

        if not path.is_file():
            raise InputError(f"{'embedding' if embedding else 'LoRA'} file not found: {path}")
        stat = path.stat()
        version = (stat.st_size, stat.st_mtime_ns)
        cached = self._files.get((path, embedding))
        if cached is None or cached[0] != version:
            reader = read_embedding if embedding else read_adapter_file
            cached = self._files[(path, embedding)] = (version, reader(path))
        return cached[1]


def adapter_state(model) -> AdapterState:
    """The model's adapter state, made on first use (nothing is merged or read until asked)."""
    state = getattr(model, _STATE_ATTRIBUTE, None)
    if state is None:
        state = AdapterState(text_components(model) | {"unet": model.unet})
        setattr(model, _STATE_ATTRIBUTE, state)
    return state


def text_components(model) -> dict:
    """The text encoders as the merge names them ("te1", and "te2" for a second one)."""
    components = {}
    if model.text_encoder is not None:
        components["te1"] = model.text_encoder
    second = getattr(model, "text_encoder_2", None)
    if second is not None:
        components["te2"] = second
    elif model.text_encoder is not None and model.text_encoder.config.pooled:
        components = {"te2": model.text_encoder}  # SDXL's refiner: bigG alone, which SDXL files call te2
    return components


def base_family(model) -> str | None:
    """sd1 / sd2 / sdxl for a model of those families (inpaint and v variants included), else None."""
    head = model.family.split("-", 1)[0]
    return head if head in _BASE_FAMILIES else None


def lora_list(request: GenerationRequest) -> tuple[str, list[tuple[Path, float, float]]]:
    """(positive prompt without tags, the LoRAs to merge: the prompt's tags, then `request.loras`)."""
    prompt, from_tags = resolve_lora_tags(request.prompt, request.lora_dir)
    explicit = [(Path(path).expanduser(), te, unet) for path, te, unet in request.loras]
    return prompt, from_tags + explicit


def prepare_adapters(model, request: GenerationRequest) -> PreparedAdapters:
    """Merge the request's LoRAs into `model` (or undo the last set) and find its embeddings."""
    prompt, wanted = lora_list(request)
    state = adapter_state(model)
    notes: list[str] = []
    lora_hashes: dict[str, str] = {}
    if wanted or state.merged:
        adapters = _read_loras(state, model, wanted)
        notes = _merge(state, adapters)
        lora_hashes = {adapter.name: lora_short_hash(adapter) for adapter, _, _ in adapters}
    embeddings, ti_hashes = _embeddings(model, state, request, prompt)
    return PreparedAdapters(prompt, embeddings, lora_hashes, ti_hashes, notes)


def _read_loras(state: AdapterState, model, wanted) -> list:
    from ldm_studio.engine.adapters.lora_files import check_family

    family = base_family(model)
    adapters = []
    for path, te, unet in wanted:
        adapter = state.read(path)
        if family is not None:
            check_family(adapter, family)
        adapters.append((adapter, te, unet))
    return adapters


def _merge(state: AdapterState, adapters: list) -> list[str]:
    from ldm_studio.engine.pipelines.conditioning import forget_prompts

    if _text_changes(state.applied, adapters):
        forget_prompts()
        # SDXL's encodings are remembered by their own module; only an imported one has any to forget.
        sdxl = sys.modules.get("ldm_studio.engine.pipelines.sdxl_conditioning")
        if sdxl is not None:
            sdxl.forget_sdxl_prompts()
    reports = state.merger.apply(adapters)
    state.applied = list(adapters)
    return [message for report in reports if (message := report.message())]


def _text_changes(before: list, after: list) -> bool:
    """Whether the text encoders' merged weights differ between the two sets (compared by what they
    touch: an adapter with text modules and a non-zero text multiplier)."""

    def text_part(entries: list) -> list:
        return [
            (id(adapter), te)
            for adapter, te, _ in entries
            if te != 0.0 and any(not name.startswith("lora_unet_") for name in adapter.modules)
        ]

    return text_part(before) != text_part(after)


def _embeddings(model, state: AdapterState, request: GenerationRequest, prompt: str):
    """({word: Embedding} used by the prompt or negative prompt, {word: TI short hash})."""
    if not text_components(model):
        return {}, {}
    files = adapter_files(request.embeddings_dir)
    used = words_in((prompt, request.negative_prompt), files) if files else []
    found = {name: state.read(files[name], embedding=True) for name in used}
    for embedding in found.values():  # one made for another model fails now, before any work
        for component, encoder in text_components(model).items():
            embedding.vectors_for(component, encoder.config.hidden_size)
    return found, {name: file_short_hash(files[name]) for name in found}


# ---- A1111's hashes ----


def lora_short_hash(adapter) -> str:
    """A1111's "Lora hashes" value: the `sshs_model_hash` a trainer stored, else the sha256 of a
    .safetensors file's tensor data (the bytes after its header, as sd-webui-additional-networks
    hashes), of the whole file for other formats; first 12 hex digits."""
    from ldm_studio.engine.file_hashes import sha256_after_header, sha256_of_file

    stored = adapter.metadata.get("sshs_model_hash", "")
    if stored:
        return stored[:12]
    if adapter.path.suffix.lower() == ".safetensors":
        return sha256_after_header(adapter.path)[:12]
    return sha256_of_file(adapter.path)[:12]


def file_short_hash(path: Path) -> str:
    """A1111's "TI hashes" value: first 12 hex of the whole file's sha256."""
    from ldm_studio.engine.file_hashes import sha256_of_file

    return sha256_of_file(path)[:12]
