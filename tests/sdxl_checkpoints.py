"""Tiny random SDXL checkpoints in the ORIGINAL single-file layout (Stability's sgm release files).

`write_tiny_sdxl_checkpoint(path, "sdxl")` writes `model.diffusion_model.*`, `first_stage_model.*`,
`conditioner.embedders.0.transformer.text_model.*` (CLIP-L, HF layout) and `conditioner.embedders.1.model.*`
(OpenCLIP bigG with `text_projection` and `logit_scale`); the refiner has only bigG, under
`conditioner.embedders.0.model.*`. Kinds: "sdxl" (4 input channels), "sdxl-inpaint" (9), "sdxl-refiner".

Tiny but with the invariants that tell SDXL apart and that diffusers' references need: 64-wide attention
heads in the text towers and the UNet (num_head_channels 64), channels multiples of 32, no attention at
UNet level 0, context dim = CLIP-L width + bigG width (refiner: bigG width), adm = bigG width + 6 * 256
(refiner: + 5 * 256), a KL-f8 VAE. Weights are random but not degenerate (norm scales near 1, no zeros),
so a wrong key or a transposed tensor changes the outputs.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from pathlib import Path

import torch

from ldm_studio.engine.nets.configs import AutoencoderConfig, TextEncoderConfig, UNetConfig

SDXL_KINDS = ("sdxl", "sdxl-inpaint", "sdxl-refiner")
UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_L_PREFIX = "conditioner.embedders.0."  # + transformer.text_model.*
BIGG_PREFIX = "conditioner.embedders.1."  # + model.*
REFINER_BIGG_PREFIX = "conditioner.embedders.0."  # the refiner's only embedder
MICRO_DIM = 256  # one sinusoidal embedding per micro-conditioning scalar

# CLIP-L: penultimate layer, no final LayerNorm, quick_gelu, pads with EOS. One 64-wide head.
TINY_CLIP_L = TextEncoderConfig(
    kind="clip",
    hidden_size=64,
    num_layers=3,
    num_heads=1,
    intermediate_size=128,
    hidden_act="quick_gelu",
    layer="penultimate",
    final_norm=False,
)
# bigG: penultimate layer without ln_final, plus the pooled projection; exact gelu, pads with 0. Two heads.
TINY_BIGG = TextEncoderConfig(
    kind="open_clip",
    hidden_size=128,
    num_layers=3,
    num_heads=2,
    intermediate_size=256,
    hidden_act="gelu",
    layer="penultimate",
    pad_token_id=0,
    final_norm=False,
    pooled=True,
)
TINY_SDXL_VAE = AutoencoderConfig(ch=32, ch_mult=(1, 1, 2, 2), num_res_blocks=1, scale_factor=0.13025)
# Base: levels 32/64/128 channels, attention at ds 2 and 4 (levels 1, 2) with depths 2 and 3, middle 3.
TINY_SDXL_UNET = UNetConfig(
    model_channels=32,
    channel_mult=(1, 2, 4),
    num_res_blocks=2,
    attention_resolutions=(4, 2),
    num_heads=-1,
    num_head_channels=64,
    context_dim=TINY_CLIP_L.hidden_size + TINY_BIGG.hidden_size,
    use_linear_in_transformer=True,
    transformer_depth=(0, 2, 3),
    num_classes="sequential",
    adm_in_channels=TINY_BIGG.hidden_size + 6 * MICRO_DIM,
    legacy=False,
)
# Refiner: four levels, one depth for all (sgm's int form), bigG-only context, aesthetic score in adm.
TINY_SDXL_REFINER_UNET = dataclasses.replace(
    TINY_SDXL_UNET,
    channel_mult=(1, 2, 4, 4),
    context_dim=TINY_BIGG.hidden_size,
    transformer_depth=2,
    adm_in_channels=TINY_BIGG.hidden_size + 5 * MICRO_DIM,
)


@dataclasses.dataclass(frozen=True)
class TinySDXL:
    unet: UNetConfig
    vae: AutoencoderConfig
    clip_l: TextEncoderConfig | None  # None for the refiner
    bigg: TextEncoderConfig
    bigg_prefix: str


def tiny_sdxl_parts(kind: str) -> TinySDXL:
    """The network configs of the tiny SDXL model `kind` (one of SDXL_KINDS)."""
    if kind == "sdxl":
        return TinySDXL(TINY_SDXL_UNET, TINY_SDXL_VAE, TINY_CLIP_L, TINY_BIGG, BIGG_PREFIX)
    if kind == "sdxl-inpaint":
        unet = dataclasses.replace(TINY_SDXL_UNET, in_channels=9)
        return TinySDXL(unet, TINY_SDXL_VAE, TINY_CLIP_L, TINY_BIGG, BIGG_PREFIX)
    if kind == "sdxl-refiner":
        return TinySDXL(TINY_SDXL_REFINER_UNET, TINY_SDXL_VAE, None, TINY_BIGG, REFINER_BIGG_PREFIX)
    raise ValueError(f"unknown SDXL kind {kind!r}")


def tiny_sdxl_state_dict(
    kind: str, *, seed: int = 0, v_pred: bool = False, ztsnr: bool = False
) -> dict[str, torch.Tensor]:
    """The full checkpoint state dict (original keys, fp32) of the tiny SDXL model `kind`.

    v_pred / ztsnr add the empty marker tensors that v-prediction SDXL fine-tunes (NoobAI-XL v-pred) carry.
    A fresh dict each call; the tensors are shared between calls, so do not modify them in place.
    """
    sd = dict(_state_dict(kind, seed))
    if v_pred:
        sd["v_pred"] = torch.tensor([])
    if ztsnr:
        sd["ztsnr"] = torch.tensor([])
    return sd


@functools.lru_cache(maxsize=8)
def _state_dict(kind: str, seed: int) -> dict[str, torch.Tensor]:
    from ldm_studio.engine.nets.autoencoder import Autoencoder
    from ldm_studio.engine.nets.text import TextEncoder, text_state_dict_to_checkpoint
    from ldm_studio.engine.nets.unet import UNetModel

    parts = tiny_sdxl_parts(kind)
    with torch.device("meta"):
        shapes = {UNET_PREFIX + k: v.shape for k, v in UNetModel(parts.unet).state_dict().items()}
        shapes |= {VAE_PREFIX + k: v.shape for k, v in Autoencoder(parts.vae).state_dict().items()}
        towers = [(parts.bigg, parts.bigg_prefix)]
        if parts.clip_l is not None:
            towers.append((parts.clip_l, CLIP_L_PREFIX))
        for config, prefix in towers:
            # Real files hold every layer, even the one a penultimate context never reads.
            full = dataclasses.replace(config, layer="last")
            text = text_state_dict_to_checkpoint(TextEncoder(full).state_dict(), full)
            shapes |= {prefix + k: v.shape for k, v in text.items()}
    generator = torch.Generator().manual_seed(seed)
    sd = {key: _random_tensor(key, shape, generator) for key, shape in sorted(shapes.items())}
    sd[parts.bigg_prefix + "model.logit_scale"] = torch.tensor(4.6052)
    if parts.clip_l is not None:
        sd[CLIP_L_PREFIX + "transformer.text_model.embeddings.position_ids"] = torch.arange(77)[None]
    return sd


def _random_tensor(key: str, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    values = torch.randn(tuple(shape), generator=generator)
    if len(shape) >= 2:
        return values.mul_(math.prod(shape[1:]) ** -0.5)  # keeps activations near unit scale
    if key.endswith("weight"):
        return values.mul_(0.1).add_(1)  # norm scales
    return values.mul_(0.05)


def write_tiny_sdxl_checkpoint(
    path: str | Path,
    kind: str = "sdxl",
    *,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
    fmt: str = "safetensors",
    v_pred: bool = False,
    ztsnr: bool = False,
) -> Path:
    """Write the tiny SDXL model `kind` to `path` and return it.

    fmt: "safetensors", or "ckpt" (weights-only torch.save of {"state_dict": ...}, as Lightning does).
    dtype: the float tensors' precision in the file (fp32, fp16, bf16); integer tensors stay int64.
    """
    path = Path(path)
    sd = tiny_sdxl_state_dict(kind, seed=seed, v_pred=v_pred, ztsnr=ztsnr)
    sd = {k: v.to(dtype) if v.is_floating_point() else v for k, v in sd.items()}
    if fmt == "safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    elif fmt == "ckpt":
        torch.save({"state_dict": sd, "global_step": 60000, "epoch": 0}, path)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return path
