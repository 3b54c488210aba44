"""Tiny random checkpoints in the ORIGINAL key layout, one per family, for every test that needs a model.

`write_tiny_checkpoint(path, "sd1")` writes `model.diffusion_model.*`, `first_stage_model.*` and
`cond_stage_model.*` exactly as the released files name them, at widths of 32-128 channels (multiples of
32, so diffusers' GroupNorm(32) references can be built from the same numbers). The features that tell
a family apart are kept (UNet input channels, text tower layout, linear vs conv projection, label_emb,
VQ codebook, VAE downscale), so the loader detects these files by the same rules as the real ones.
`tiny_family(name)` is the Family the loader must read back: parity tests rebuild diffusers models from
its configs, and `tiny_state_dict(name)` gives the same weights without a file.

Weights are random but not degenerate: unlike a fresh init, norms are not 1/0 and the zero-initialised
output convolutions are not zero, so a wrong key or a transposed tensor changes the outputs.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from pathlib import Path

import torch

from ldm_studio.bench.tiny import TEXT_WIDTH, TINY_CLIP, TINY_KL_F8, TINY_SD1_UNET  # the bench's tiny sd1 too
from ldm_studio.engine.checkpoints.families import (
    KNOWN_FAMILIES,
    METADATA_KEY,
    Family,
    family_to_json,
    fit_to_family,
)
from ldm_studio.engine.checkpoints.shapes import TEXT_PREFIX, UNET_PREFIX, VAE_PREFIX, v_prediction_probe
from ldm_studio.engine.nets.configs import AutoencoderConfig, TextEncoderConfig, UNetConfig

FAMILY_NAMES = (
    "sd1", "sd1-inpaint", "sd2", "sd2-v", "sd2-inpaint", "sd-x4-upscaler", "ldm-bsr", "ldm-inpaint", "demo",
)  # fmt: skip

TINY_OPEN_CLIP = dataclasses.replace(TINY_CLIP, kind="open_clip")
TINY_KL_F4 = dataclasses.replace(TINY_KL_F8, ch_mult=(1, 1, 2))
TINY_VQ_F4 = AutoencoderConfig(
    kind="vq",
    embed_dim=3,
    n_embed=64,
    double_z=False,
    z_channels=3,
    ch=32,
    ch_mult=(1, 1, 2),
    num_res_blocks=1,
)
# SD 2.x has 64-channel heads: its tiny UNet needs 64 channels where it attends.
TINY_SD2_UNET = dataclasses.replace(TINY_SD1_UNET, model_channels=64, use_linear_in_transformer=True)
# x4: no attention at level 0; level 1 only cross-attends (attn1 reads the context); the last self-attends.
TINY_X4_UNET = dataclasses.replace(
    TINY_SD1_UNET,
    in_channels=7,
    channel_mult=(1, 2, 2),
    attention_resolutions=(2, 4),
    use_linear_in_transformer=True,
    disable_self_attentions=(False, True, False),
    num_classes=1000,
)
TINY_LDM_UNET = UNetConfig(
    in_channels=6, out_channels=3, model_channels=32, channel_mult=(1, 2), num_res_blocks=1,
    attention_resolutions=(2,), use_spatial_transformer=False, context_dim=None,
)  # fmt: skip

_TINY_PARTS: dict[str, tuple[UNetConfig, AutoencoderConfig, TextEncoderConfig | None]] = {
    "sd1": (TINY_SD1_UNET, TINY_KL_F8, TINY_CLIP),
    "sd1-inpaint": (dataclasses.replace(TINY_SD1_UNET, in_channels=9), TINY_KL_F8, TINY_CLIP),
    "sd2": (TINY_SD2_UNET, TINY_KL_F8, TINY_OPEN_CLIP),
    "sd2-v": (TINY_SD2_UNET, TINY_KL_F8, TINY_OPEN_CLIP),
    "sd2-inpaint": (dataclasses.replace(TINY_SD2_UNET, in_channels=9), TINY_KL_F8, TINY_OPEN_CLIP),
    "sd-x4-upscaler": (TINY_X4_UNET, TINY_KL_F4, TINY_OPEN_CLIP),
    "ldm-bsr": (TINY_LDM_UNET, TINY_VQ_F4, None),
    "ldm-inpaint": (
        dataclasses.replace(TINY_LDM_UNET, in_channels=7, attention_resolutions=(1, 2), resblock_updown=True),
        dataclasses.replace(TINY_VQ_F4, attn_type="none"),
        None,
    ),
}
# A family no shape rule knows (3 latent channels, CLIP text): only its metadata config describes it.
TINY_DEMO = Family(
    name="demo-tiny",
    label="Demo (tiny test model)",
    unet=dataclasses.replace(TINY_SD1_UNET, in_channels=3, out_channels=3, legacy=False),
    vae=dataclasses.replace(TINY_KL_F4, embed_dim=3, z_channels=3, scale_factor=0.5),
    text=TINY_CLIP,
    prediction="eps",
    conditioning="crossattn",
    linear_start=0.00085,
    linear_end=0.012,
    timesteps=1000,
    modes=("txt2img", "img2img", "inpaint"),
    default_size=(64, 64),
    preview="fitted",
)


def tiny_family(name: str) -> Family:
    """The Family (with tiny configs) that the loader reads back from `write_tiny_checkpoint(_, name)`."""
    if name == "demo":
        return TINY_DEMO
    unet, vae, text = _TINY_PARTS[name]
    return fit_to_family(KNOWN_FAMILIES[name], unet, vae, text)


def tiny_state_dict(name: str, *, seed: int = 0) -> dict[str, torch.Tensor]:
    """The full checkpoint state dict (original keys, fp32) of the tiny model `name`.

    A fresh dict each call; the tensors are shared between calls, so do not modify them in place.
    """
    return dict(_tiny_state_dict(name, seed))


@functools.lru_cache(maxsize=16)
def _tiny_state_dict(name: str, seed: int) -> dict[str, torch.Tensor]:
    from ldm_studio.engine.nets.autoencoder import Autoencoder
    from ldm_studio.engine.nets.text import TextEncoder, text_state_dict_to_checkpoint
    from ldm_studio.engine.nets.unet import UNetModel

    family = tiny_family(name)
    with torch.device("meta"):
        shapes = {UNET_PREFIX + k: v.shape for k, v in UNetModel(family.unet).state_dict().items()}
        vae_shapes = {k: v.shape for k, v in Autoencoder(family.vae).state_dict().items()}
        shapes.update({VAE_PREFIX + k: v for k, v in vae_shapes.items()})
        if family.text is not None:
            # Real files hold every layer, even the one a "penultimate" encoder never runs.
            full = dataclasses.replace(family.text, layer="last")
            ours = TextEncoder(full).state_dict()
            text = text_state_dict_to_checkpoint(ours, full)
            shapes.update({TEXT_PREFIX + k: v.shape for k, v in text.items()})
    generator = torch.Generator().manual_seed(seed)
    sd = {key: _random_tensor(key, shape, generator) for key, shape in sorted(shapes.items())}
    if family.text is not None and family.text.kind == "open_clip":
        sd[TEXT_PREFIX + "model.text_projection"] = _random_tensor("w", (TEXT_WIDTH, TEXT_WIDTH), generator)
        sd[TEXT_PREFIX + "model.logit_scale"] = torch.tensor(4.6052)
    elif family.text is not None:
        sd[TEXT_PREFIX + "transformer.text_model.embeddings.position_ids"] = torch.arange(77)[None]
    if name == "ldm-inpaint":  # its cond stage IS its first stage, saved under both names
        sd.update({TEXT_PREFIX + k: sd[VAE_PREFIX + k].clone() for k in vae_shapes})
    if name.startswith("sd2"):
        # The SD 2.x eps/v heuristic reads this bias's spread: v models have a wide one, as the real ones do.
        probe = v_prediction_probe(
            {k[len(UNET_PREFIX) :]: v for k, v in shapes.items() if k.startswith(UNET_PREFIX)}
        )
        spread = 0.3 if family.prediction == "v" else 0.02
        sd[probe] = torch.randn(sd[probe].shape, generator=generator) * spread
    betas = torch.linspace(family.linear_start**0.5, family.linear_end**0.5, family.timesteps) ** 2
    sd["betas"] = betas
    sd["alphas_cumprod"] = torch.cumprod(1 - betas, dim=0)
    return sd


def _random_tensor(key: str, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    values = torch.randn(tuple(shape), generator=generator)
    if len(shape) >= 2:
        return values.mul_(math.prod(shape[1:]) ** -0.5)  # keeps activations near unit scale
    if key.endswith("weight"):
        return values.mul_(0.1).add_(1)  # norm scales
    return values.mul_(0.05)


def write_tiny_checkpoint(
    path: str | Path,
    family: str,
    *,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
    fmt: str = "safetensors",
    with_metadata: bool = False,
    config: dict | None = None,
    with_ema: bool = False,
) -> Path:
    """Write the tiny `family` model to `path` and return it.

    fmt: "safetensors", or "ckpt" (torch.save of {"state_dict": ..., "global_step": ...}, as Lightning does).
    with_metadata: store the full family as the "ldm_studio_config" metadata (always for "demo");
    config: store this mapping there instead. with_ema: add `model_ema.*` copies, as training files have.
    """
    path = Path(path)
    sd = tiny_state_dict(family, seed=seed)
    if with_ema:
        sd["model_ema.decay"] = torch.tensor(0.9999)
        for key in [k for k in sd if k.startswith(UNET_PREFIX)]:
            sd["model_ema." + key.removeprefix("model.").replace(".", "")] = sd[key] + 0.01
    sd = {k: v.to(dtype) if v.is_floating_point() else v for k, v in sd.items()}
    if with_metadata or family == "demo":
        config = json.loads(family_to_json(tiny_family(family)))
    if fmt == "safetensors":
        from safetensors.torch import save_file

        metadata = {METADATA_KEY: json.dumps(config)} if config is not None else None
        save_file({k: v.contiguous() for k, v in sd.items()}, str(path), metadata=metadata)
    elif fmt == "ckpt":
        if config is not None:
            raise ValueError("metadata configs need the safetensors format")
        torch.save({"state_dict": sd, "global_step": 470000, "epoch": 3}, path)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return path


def write_tiny_vae(
    path: str | Path, family: str = "sd1", *, seed: int = 1, prefix: bool = False, fmt: str = "safetensors"
) -> Path:
    """A separate VAE file for `family`'s tiny model: different weights, same shapes (as a fine-tuned VAE)."""
    path = Path(path)
    sd = {
        (k if prefix else k.removeprefix(VAE_PREFIX)): v
        for k, v in tiny_state_dict(family, seed=seed).items()
        if k.startswith(VAE_PREFIX)
    }
    if fmt == "safetensors":
        from safetensors.torch import save_file

        save_file(sd, str(path))
    else:
        torch.save({"state_dict": sd}, path)
    return path
