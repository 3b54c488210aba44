"""Textual-inversion embeddings: the n vectors a prompt word (the file stem) stands for, per text encoder.

Layouts read:
- A1111 `.pt`: {"string_to_param": {"*": [n, dim]}, "name", "step", …}, loaded weights-only (a file
  that needs code to unpickle is refused);
- `.safetensors`: {"emb_params": [n, dim]};
- SDXL: {"clip_l": [n, 768], "clip_g": [n, 1280]} (either container);
- diffusers `learned_embeds.bin` / `.safetensors`: {token: [dim]} (or [n, dim]).
Vectors are keyed by text component as the merge names them: "te1" (SD1 / SD2 / SDXL's CLIP-L) and
"te2" (SDXL's bigG). Embeddings hidden in PNG images (A1111's "embedding as image") are not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ldm_studio.engine.adapters.lora_files import FAMILY_NAMES, all_finite, read_weights
from ldm_studio.engine.errors import InputError

_WIDTH_FAMILY = {768: "sd1", 1024: "sd2"}


@dataclass(frozen=True)
class Embedding:
    name: str  # the prompt word: the file stem
    path: Path
    vectors: dict[str, torch.Tensor]  # component ("te1", "te2") → [n, width], float32
    family: str | None  # "sd1", "sd2", "sdxl", or None for a width no released model has

    @property
    def num_vectors(self) -> int:
        """Token slots the word takes (of the 75 per chunk)."""
        return next(iter(self.vectors.values())).shape[0]

    def vectors_for(self, component: str, width: int) -> torch.Tensor:
        """The [n, width] vectors for text encoder `component`; one-line error when they do not fit it."""
        vectors = self.vectors.get(component)
        if vectors is None or vectors.shape[1] != width:
            made_for = FAMILY_NAMES.get(self.family or "", "another model")
            widths = "+".join(str(v.shape[1]) for v in self.vectors.values())
            raise InputError(
                f"embedding {self.name!r} is for {made_for} ({widths} wide), not this model's "
                f"{width}-wide text encoder"
            )
        return vectors


def read_embedding(path: str | Path) -> Embedding:
    """Read one embedding file; one-line errors for LoRAs, damage, NaN, pickles that need code."""
    path = Path(path)
    data = read_weights(path, "embedding")[0]
    vectors = _vectors(path, data)
    for component, tensor in vectors.items():
        if not all_finite(tensor):
            raise InputError(f"{path.name} holds NaN or infinite values ({component}): refused")
    return Embedding(path.stem, path, vectors, _family(vectors))


def _vectors(path: Path, data: dict) -> dict[str, torch.Tensor]:
    if "clip_l" in data and "clip_g" in data:
        return {"te1": _rows(path, data["clip_l"]), "te2": _rows(path, data["clip_g"])}
    table = data.get("string_to_param")
    if isinstance(table, dict) and table:
        return {"te1": _rows(path, next(iter(table.values())))}
    if "emb_params" in data:
        return {"te1": _rows(path, data["emb_params"])}
    tensors = {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}
    if any(k.startswith(("lora_", "unet.", "text_encoder.")) for k in tensors):
        raise InputError(f"{path.name} is a LoRA, not an embedding: use the LoRA folder")
    if len(tensors) == 1:  # diffusers: {token: [dim]}
        return {"te1": _rows(path, next(iter(tensors.values())))}
    raise InputError(f"{path.name} is not a textual-inversion embedding (no string_to_param / emb_params)")


def _rows(path: Path, tensor) -> torch.Tensor:
    if not isinstance(tensor, torch.Tensor) or tensor.ndim not in (1, 2) or not tensor.is_floating_point():
        raise InputError(f"{path.name}: the embedding vectors are not a [n, dim] float tensor")
    tensor = tensor.detach().float()
    return tensor[None] if tensor.ndim == 1 else tensor


def _family(vectors: dict[str, torch.Tensor]) -> str | None:
    if "te2" in vectors:
        return "sdxl" if (vectors["te1"].shape[1], vectors["te2"].shape[1]) == (768, 1280) else None
    return _WIDTH_FAMILY.get(vectors["te1"].shape[1])
