"""Test-side bridges from the ORIGINAL checkpoint layout to diffusers' reference networks.

Weights go through the original key names only (never through our module structure), then through
diffusers' own single-file converters where they exist, or through the hand mapping below for the
legacy LDM UNet (diffusers' UNet2DModel). The references therefore know nothing of our code.
"""

from __future__ import annotations

import dataclasses

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel, UNet2DModel, VQModel
from diffusers.loaders.single_file_utils import (
    convert_ldm_unet_checkpoint,
    convert_ldm_vae_checkpoint,
    create_unet_diffusers_config_from_ldm,
    create_vae_diffusers_config_from_ldm,
)

from ldm_studio.engine.nets.configs import AutoencoderConfig, UNetConfig

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."


def randomize_(module: torch.nn.Module, seed: int = 0, std: float = 0.1) -> torch.nn.Module:
    """Non-zero random weights everywhere; norm scales around 1 so activations neither vanish nor blow up."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=gen) * std
            is_norm_scale = p.ndim == 1 and name.endswith("weight")
            p.copy_(1.0 + noise if is_norm_scale else noise)
    return module


def _yaml_like(config) -> dict:
    """Dataclass -> YAML-style params; unset options (None, -1) are left out, as in the original files."""
    values = dataclasses.asdict(config)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items() if v is not None and v != -1}


def original_config(unet: UNetConfig, vae: AutoencoderConfig | None = None) -> dict:
    """The `model.params` tree of an original YAML config, as diffusers' config creators read it."""
    vae = vae or AutoencoderConfig()
    ddconfig = _yaml_like(vae)
    return {
        "model": {
            "params": {
                "scale_factor": vae.scale_factor,
                "unet_config": {"params": {"context_dim": None, **_yaml_like(unet)}},
                "first_stage_config": {"params": {"embed_dim": vae.embed_dim, "ddconfig": ddconfig}},
            }
        }
    }


def with_prefix(state_dict: dict, prefix: str) -> dict:
    return {prefix + k: v.detach().clone() for k, v in state_dict.items()}


def diffusers_unet(state_dict: dict, config: UNetConfig) -> UNet2DConditionModel:
    """UNet2DConditionModel from original-layout UNet weights (keys without the prefix)."""
    checkpoint = with_prefix(state_dict, UNET_PREFIX)
    unet_config = create_unet_diffusers_config_from_ldm(original_config(config), checkpoint)
    converted = convert_ldm_unet_checkpoint(checkpoint, unet_config)
    # Every original tensor must be consumed: a key the converter skipped would go unchecked.
    assert len(converted) == len(state_dict)
    model = UNet2DConditionModel(**unet_config)
    model.load_state_dict(converted, strict=True)
    return model.eval()


def _vae_checkpoint(state_dict: dict, config: AutoencoderConfig) -> tuple[dict, dict]:
    checkpoint = with_prefix(state_dict, VAE_PREFIX)
    original = original_config(UNetConfig(), config)
    vae_config = create_vae_diffusers_config_from_ldm(original, checkpoint)
    return vae_config, convert_ldm_vae_checkpoint(checkpoint, vae_config)


def diffusers_kl(state_dict: dict, config: AutoencoderConfig) -> AutoencoderKL:
    vae_config, converted = _vae_checkpoint(state_dict, config)
    assert len(converted) == len(state_dict)
    model = AutoencoderKL(**vae_config)
    model.load_state_dict(converted, strict=True)
    return model.eval()


def diffusers_vq(state_dict: dict, config: AutoencoderConfig) -> VQModel:
    """VQModel: the KL converter maps encoder/decoder/quant convs; the codebook key is added by hand."""
    vae_config, converted = _vae_checkpoint(state_dict, config)
    converted["quantize.embedding.weight"] = state_dict["quantize.embedding.weight"]
    assert len(converted) == len(state_dict)
    vae_config.pop("scaling_factor")
    model = VQModel(
        **vae_config,
        num_vq_embeddings=config.n_embed,
        vq_embed_dim=config.embed_dim,
        scaling_factor=config.scale_factor,
        mid_block_add_attention=config.attn_type == "vanilla",
    )
    model.load_state_dict(converted, strict=True)
    return model.eval()


# ---- legacy LDM UNet (AttentionBlock, no cross-attention) -> diffusers UNet2DModel, by hand ----

_RESNET_NAMES = {
    "in_layers.0": "norm1",
    "in_layers.2": "conv1",
    "emb_layers.1": "time_emb_proj",
    "out_layers.0": "norm2",
    "out_layers.3": "conv2",
    "skip_connection": "conv_shortcut",
}


def _move(sd: dict, out: dict, old: str, new: str, names: dict | None = None) -> None:
    """Move every key under `old.` to `new.`, renaming its first components with `names`."""
    for key in [k for k in sd if k.startswith(old + ".")]:
        rest = key[len(old) + 1 :]
        for a, b in (names or {}).items():
            if rest.startswith(a + "."):
                rest = b + rest[len(a) :]
        out[f"{new}.{rest}"] = sd.pop(key)


def _move_attention(sd: dict, out: dict, old: str, new: str, heads: int) -> None:
    """QKVAttentionLegacy's qkv rows are [head0: q k v, head1: q k v, ...]; diffusers wants q, k, v."""
    for suffix in ("weight", "bias"):
        qkv = sd.pop(f"{old}.qkv.{suffix}")
        if suffix == "weight":
            qkv = qkv[..., 0]
        per_head = qkv.reshape(heads, 3, qkv.shape[0] // (3 * heads), *qkv.shape[1:])
        for i, name in enumerate(("to_q", "to_k", "to_v")):
            out[f"{new}.{name}.{suffix}"] = per_head[:, i].reshape(-1, *qkv.shape[1:])
        proj = sd.pop(f"{old}.proj_out.{suffix}")
        out[f"{new}.to_out.0.{suffix}"] = proj[..., 0] if suffix == "weight" else proj
        out[f"{new}.group_norm.{suffix}"] = sd.pop(f"{old}.norm.{suffix}")


def diffusers_legacy_unet(state_dict: dict, config: UNetConfig) -> UNet2DModel:
    """UNet2DModel equal to a legacy LDM UNet. Needs one head width at every attention (num_head_channels,
    or num_heads with equal channels at all attention levels), which UNet2DModel cannot vary per level."""
    sd = dict(state_dict)
    mc, mults, nrb = config.model_channels, config.channel_mult, config.num_res_blocks
    attn = [2**level in config.attention_resolutions for level in range(len(mults))]
    if config.num_head_channels != -1:
        head_width = config.num_head_channels
    else:
        attn_channels = {mc * m for m, a in zip(mults, attn, strict=True) if a} | {mc * mults[-1]}
        assert len(attn_channels) == 1, "fixed heads need equal channels at every attention"
        head_width = attn_channels.pop() // config.num_heads

    out: dict = {}
    _move(sd, out, "time_embed.0", "time_embedding.linear_1")
    _move(sd, out, "time_embed.2", "time_embedding.linear_2")
    _move(sd, out, "input_blocks.0.0", "conv_in")
    _move(sd, out, "out.0", "conv_norm_out")
    _move(sd, out, "out.2", "conv_out")
    index = 1
    for level in range(len(mults)):
        for r in range(nrb):
            _move(sd, out, f"input_blocks.{index}.0", f"down_blocks.{level}.resnets.{r}", _RESNET_NAMES)
            if attn[level]:
                heads = mc * mults[level] // head_width
                _move_attention(
                    sd, out, f"input_blocks.{index}.1", f"down_blocks.{level}.attentions.{r}", heads
                )
            index += 1
        if level != len(mults) - 1:
            names = _RESNET_NAMES if config.resblock_updown else {"op": "conv"}
            _move(sd, out, f"input_blocks.{index}.0", f"down_blocks.{level}.downsamplers.0", names)
            index += 1
    _move(sd, out, "middle_block.0", "mid_block.resnets.0", _RESNET_NAMES)
    _move_attention(sd, out, "middle_block.1", "mid_block.attentions.0", mc * mults[-1] // head_width)
    _move(sd, out, "middle_block.2", "mid_block.resnets.1", _RESNET_NAMES)
    index = 0
    for block, level in enumerate(reversed(range(len(mults)))):
        for r in range(nrb + 1):
            _move(sd, out, f"output_blocks.{index}.0", f"up_blocks.{block}.resnets.{r}", _RESNET_NAMES)
            sub = 1
            if attn[level]:
                heads = mc * mults[level] // head_width
                _move_attention(
                    sd, out, f"output_blocks.{index}.1", f"up_blocks.{block}.attentions.{r}", heads
                )
                sub = 2
            if level and r == nrb:
                names = _RESNET_NAMES if config.resblock_updown else None
                _move(sd, out, f"output_blocks.{index}.{sub}", f"up_blocks.{block}.upsamplers.0", names)
            index += 1
    assert not sd, f"original keys left unmapped: {sorted(sd)[:5]}"

    resample = "resnet" if config.resblock_updown else "conv"
    plain_down = "ResnetDownsampleBlock2D" if config.resblock_updown else "DownBlock2D"
    plain_up = "ResnetUpsampleBlock2D" if config.resblock_updown else "UpBlock2D"
    model = UNet2DModel(
        in_channels=config.in_channels,
        out_channels=config.out_channels,
        block_out_channels=tuple(mc * m for m in mults),
        layers_per_block=nrb,
        down_block_types=tuple("AttnDownBlock2D" if a else plain_down for a in attn),
        up_block_types=tuple("AttnUpBlock2D" if a else plain_up for a in reversed(attn)),
        attention_head_dim=head_width,
        downsample_type=resample,
        upsample_type=resample,
        norm_eps=1e-5,
        flip_sin_to_cos=True,
        freq_shift=0,
    )
    model.load_state_dict(out, strict=True)
    return model.eval()
