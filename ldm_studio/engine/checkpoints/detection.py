"""Which family a checkpoint is, and with which configs, in this order (later wins):

1. the tensor shapes (`shapes.py`);
2. an original LDM YAML beside the file (`model.yaml` next to `model.safetensors`);
3. a JSON config in the safetensors metadata under "ldm_studio_config" (`families.py` has the format);
4. the caller's `prediction=` ("eps" / "v"), which always wins.
SDXL files mark v-prediction and zero-terminal-SNR training with empty marker tensors: a `v_pred` key
makes the family predict v (the family keeps its name, e.g. `sdxl`, its label says "v-prediction" and
the prediction source is "key"); a `ztsnr` key sets `zero_terminal_snr` (betas rescaled so ᾱ_T = 0).
SD 2.x eps and v models have the same shapes; when nothing above says, the spread of one bias is used:
std(output_blocks.11.1.transformer_blocks.0.norm1.bias) > 0.09 means v (it reads one small tensor,
not the whole model, and needs no forward pass). Tell the user it was a guess; they can override.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from ldm_studio.engine.checkpoints.families import (
    KNOWN_FAMILIES,
    METADATA_KEY,
    Family,
    apply_config,
    with_prediction,
)
from ldm_studio.engine.checkpoints.files import CheckpointReader
from ldm_studio.engine.checkpoints.shapes import (
    TEXT_PREFIX,
    UNET_PREFIX,
    VAE_PREFIX,
    ShapeError,
    detect_family,
    sdxl_text_parts,
    strip_prefix,
    text_config_from_shapes,
    unet_config_from_shapes,
    v_prediction_probe,
    vae_config_from_shapes,
)
from ldm_studio.engine.checkpoints.yaml_config import config_from_yaml, yaml_beside
from ldm_studio.engine.errors import CheckpointError

V_BIAS_STD_THRESHOLD = 0.09
# What a layout rule raises on tensors of unexpected rank or size (ShapeError is a ValueError).
ODD_SHAPES = (ValueError, KeyError, IndexError, TypeError, ZeroDivisionError)


def resolve_family(reader: CheckpointReader, prediction: str | None = None) -> tuple[Family, str, str]:
    """(family, config_source, prediction_source) for an open checkpoint; see the module doc for the order."""
    name = reader.path.name
    shapes = {key: info.shape for key, info in reader.tensors.items()}
    try:
        family: Family | None = detect_family(shapes)
        not_detected: Exception | None = None
    except ShapeError as exc:
        family, not_detected = None, exc
    except ODD_SHAPES as exc:  # tensors of unexpected rank or size where a layout rule looks
        family, not_detected = None, ShapeError(f"unexpected tensor shapes ({type(exc).__name__}: {exc})")
    configs: list[tuple[str, dict[str, Any]]] = []
    yaml_path = yaml_beside(reader.path)
    if yaml_path is not None:
        configs.append(("yaml", config_from_yaml(yaml_path)))
    if METADATA_KEY in reader.metadata:
        configs.append(("metadata", _metadata_config(reader)))
    if family is None and not configs:
        raise CheckpointError(f"{name}: {not_detected}")
    if family is None:
        family = _family_from_shapes_alone(shapes)
    config_source, prediction_source = "shapes", "family"
    if family.is_sdxl:
        family, prediction_source = _sdxl_markers(reader, family)
    for source, values in configs:
        try:
            family = apply_config(family, values)
        except (ValueError, TypeError) as exc:
            where = yaml_path.name if source == "yaml" else f'its "{METADATA_KEY}" metadata'
            raise CheckpointError(f"{name}: bad model config in {where}: {exc}") from None
        config_source = source
        if "prediction" in values or values.get("family") in KNOWN_FAMILIES:
            prediction_source = source
    if prediction is not None:
        try:
            return with_prediction(family, prediction), config_source, "override"
        except ValueError as exc:
            raise CheckpointError(f"{name}: {exc}") from None
    if prediction_source == "family" and family.name == "sd2":
        probe = v_prediction_probe(strip_prefix(shapes, UNET_PREFIX))
        if probe is not None and probe in reader.tensors:
            spread = reader.tensor(probe).float().std().item()
            guess = "v" if spread > V_BIAS_STD_THRESHOLD else "eps"
            return with_prediction(family, guess), config_source, "guessed"
    return family, config_source, prediction_source


V_PRED_KEY, ZTSNR_KEY = "v_pred", "ztsnr"


def _sdxl_markers(reader: CheckpointReader, family: Family) -> tuple[Family, str]:
    """The marker keys of SDXL v-prediction fine-tunes (NoobAI-XL v-pred): `v_pred`, `ztsnr`."""
    source = "family"
    if V_PRED_KEY in reader.tensors:
        family, source = with_prediction(family, "v"), "key"
    if ZTSNR_KEY in reader.tensors:
        family = dataclasses.replace(family, zero_terminal_snr=True)
    return family, source


def _metadata_config(reader: CheckpointReader) -> dict[str, Any]:
    try:
        values = json.loads(reader.metadata[METADATA_KEY])
    except json.JSONDecodeError:
        values = None
    if not isinstance(values, dict):
        raise CheckpointError(f'{reader.path.name}: its "{METADATA_KEY}" metadata is not a JSON object')
    return values


def _family_from_shapes_alone(shapes: Mapping[str, tuple[int, ...]]) -> Family:
    """Where a config for an unknown family starts: what the shapes say, else SD 1.x."""
    base = KNOWN_FAMILIES["sd1"]
    parts = {"unet": base.unet, "vae": base.vae, "text": None}
    readers = (
        ("unet", unet_config_from_shapes, UNET_PREFIX),
        ("vae", vae_config_from_shapes, VAE_PREFIX),
        ("text", text_config_from_shapes, TEXT_PREFIX),
    )
    for part, read, prefix in readers:
        with contextlib.suppress(*ODD_SHAPES):
            parts[part] = read(strip_prefix(shapes, prefix))
    return dataclasses.replace(base, name="unknown", label="unknown model", **parts)


def text_prefixes(reader: CheckpointReader, family: Family) -> tuple[str, str]:
    """Where `family.text` and `family.text2` live in the file (SDXL: `conditioner.embedders.N.`)."""
    if not family.is_sdxl:
        return TEXT_PREFIX, ""
    shapes = {key: info.shape for key, info in reader.tensors.items()}
    found = [prefix for prefix, _ in sdxl_text_parts(shapes)]
    first, second, *_ = [*found, "", ""]
    return first, second
