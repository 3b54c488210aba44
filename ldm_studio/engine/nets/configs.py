"""Hyperparameters of the networks, named as in the original CompVis/Stability YAML configs.

Field names follow `model.params.unet_config.params`, `first_stage_config.params.ddconfig` and friends,
so an original config file maps onto these dataclasses key for key (unknown keys are ignored).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal


def from_mapping(cls: type, values: dict[str, Any]):
    """Build config `cls` from a mapping, ignoring keys it does not have and turning lists into tuples."""
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in names}
    return cls(**kwargs)


@dataclass(frozen=True)
class UNetConfig:
    in_channels: int = 4
    out_channels: int = 4
    model_channels: int = 320
    channel_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    attention_resolutions: tuple[int, ...] = (4, 2, 1)  # downsampling factors that get attention
    num_heads: int = 8  # fixed head count; -1 when num_head_channels is used
    num_head_channels: int = -1  # fixed head width (SD2: 64); -1 when num_heads is used
    use_spatial_transformer: bool = True  # False: legacy AttentionBlock, no cross-attention (CompVis LDM)
    context_dim: int | None = 768
    use_linear_in_transformer: bool = False  # SD2: Linear proj_in/proj_out instead of 1x1 conv
    transformer_depth: int = 1
    disable_self_attentions: tuple[bool, ...] | None = None  # per level: attn1 cross-attends the context
    num_classes: int | None = None  # x4 upscaler: 1000 noise levels through `label_emb`
    resblock_updown: bool = False  # ResBlocks with up/down instead of plain Upsample/Downsample
    legacy: bool = True  # CompVis: with num_head_channels, legacy derives heads the old way


@dataclass(frozen=True)
class AutoencoderConfig:
    kind: Literal["kl", "vq"] = "kl"
    embed_dim: int = 4  # latent channels seen by the UNet
    scale_factor: float = 0.18215
    n_embed: int = 0  # VQ codebook size
    double_z: bool = True
    z_channels: int = 4
    resolution: int = 256
    in_channels: int = 3
    out_ch: int = 3
    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    attn_resolutions: tuple[int, ...] = ()
    attn_type: Literal["vanilla", "none"] = "vanilla"  # "none": no attention at all (LDM inpainting's VQ-f4)

    @property
    def downscale(self) -> int:
        """Pixels per latent pixel along each axis (8 for KL-f8, 4 for KL-f4 / VQ-f4)."""
        return 2 ** (len(self.ch_mult) - 1)


@dataclass(frozen=True)
class TextEncoderConfig:
    kind: Literal["clip", "open_clip"] = "clip"  # key layout: SD1 CLIP or SD2 OpenCLIP
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    intermediate_size: int = 3072
    vocab_size: int = 49408
    max_positions: int = 77
    hidden_act: Literal["quick_gelu", "gelu"] = "quick_gelu"
    layer: Literal["last", "penultimate"] = "last"  # which hidden state feeds the UNet (after final LN)
    pad_token_id: int = 49407  # SD1 pads with EOS, SD2 with 0
