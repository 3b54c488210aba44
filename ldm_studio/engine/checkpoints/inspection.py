"""What a checkpoint file is, without loading its weights: family, prediction, sizes and dtypes per part."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ldm_studio.engine.checkpoints.detection import resolve_family, text_prefixes
from ldm_studio.engine.checkpoints.families import Family
from ldm_studio.engine.checkpoints.files import open_checkpoint
from ldm_studio.engine.checkpoints.shapes import EMA_PREFIX, TEXT_PREFIX, UNET_PREFIX, VAE_PREFIX
from ldm_studio.engine.runtime.devices import precision_name

_PARTS = {"unet": UNET_PREFIX, "vae": VAE_PREFIX, "text": TEXT_PREFIX}


@dataclass(frozen=True)
class CheckpointInfo:
    """What `inspect_checkpoint` finds without loading the weights."""

    path: Path
    format: str  # "safetensors" or "torch"
    file_size: int  # bytes
    config: Family  # the family, with network configs read from this file
    config_source: str  # "shapes", "yaml" or "metadata": where the family came from in the end
    prediction_source: str  # "family", "yaml", "metadata", "guessed" or "override"
    parameters: dict[str, int]  # per part ("unet", "vae", "text", SDXL's "text2"): number of weights
    dtypes: dict[str, str]  # per part: "fp16", "fp32", "bf16", ...
    has_ema: bool  # `model_ema.*` copies are present (and ignored)

    @property
    def family(self) -> str:
        return self.config.name

    @property
    def prediction(self) -> str:
        return self.config.prediction

    @property
    def name(self) -> str:
        return self.path.stem


def inspect_checkpoint(path: str | Path, *, prediction: str | None = None) -> CheckpointInfo:
    """Family, prediction, parameter counts and dtypes of a checkpoint, without loading its weights."""
    with open_checkpoint(path) as reader:
        family, config_source, prediction_source = resolve_family(reader, prediction)
        parameters, dtypes = {}, {}
        parts = dict(_PARTS)
        if family.is_sdxl:
            first, second = text_prefixes(reader, family)
            parts["text"] = first
            if second:
                parts["text2"] = second
        for part, prefix in parts.items():
            infos = [info for key, info in reader.tensors.items() if key.startswith(prefix)]
            if part == "text" and family.text is None:
                continue  # e.g. LDM inpainting's `cond_stage_model.*` is a copy of its first stage
            if infos:
                parameters[part] = sum(info.numel for info in infos)
                by_dtype: dict[torch.dtype, int] = {}
                for info in infos:
                    by_dtype[info.dtype] = by_dtype.get(info.dtype, 0) + info.numel
                dtypes[part] = precision_name(max(by_dtype, key=by_dtype.__getitem__))
        return CheckpointInfo(
            path=reader.path,
            format=reader.format,
            file_size=reader.file_size,
            config=family,
            config_source=config_source,
            prediction_source=prediction_source,
            parameters=parameters,
            dtypes=dtypes,
            has_ema=any(key.startswith(EMA_PREFIX) for key in reader.tensors),
        )
