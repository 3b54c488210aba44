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
    transformer_depth: int | tuple[int, ...] = 1  # blocks per SpatialTransformer: one int, or one per level
    transformer_depth_middle: int | None = None  # the middle block's; None: the last level's depth
    disable_self_attentions: tuple[bool, ...] | None = None  # per level: attn1 cross-attends the context
    # x4 upscaler: 1000 noise levels through an Embedding `label_emb`. SDXL: "sequential", a float vector
    # `y` [B, adm_in_channels] (pooled text + micro-conditioning) through Linear-SiLU-Linear `label_emb.0`.
    num_classes: int | Literal["sequential"] | None = None
    adm_in_channels: int | None = None
    resblock_updown: bool = False  # ResBlocks with up/down instead of plain Upsample/Downsample
    legacy: bool = True  # CompVis: with num_head_channels, legacy derives heads the old way

    def depth_at(self, level: int | None) -> int:
        """Transformer blocks at `level` (None: the middle block), as sgm's openaimodel expands them."""
        depths = self.transformer_depth
        if isinstance(depths, int):
            depths = (depths,) * len(self.channel_mult)
        if level is None:
            return depths[-1] if self.transformer_depth_middle is None else self.transformer_depth_middle
        return depths[level]


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
    layer: Literal["last", "penultimate"] = "last"  # which hidden state feeds the UNet
    pad_token_id: int = 49407  # SD1 pads with EOS, SD2 with 0
    final_norm: bool = True  # the context passes the final LayerNorm (SD1, SD2); SDXL's does not
    # Also compute the projected pooled vector (SDXL's bigG): ln_final(last layer) at the first EOS
    # @ text_projection [hidden, projection_dim]. Needs every layer built, even for a penultimate context.
    pooled: bool = False
    projection_dim: int | None = None  # width of text_projection's output; None: hidden_size


# Output widths of a ControlNet's hint convs 0, 2, ..., 12 in every released file (the last conv maps to
# model_channels); strides of 2 at the 3rd, 5th and 7th, so the hint comes down 8x to the latent size.
CONTROLNET_HINT_WIDTHS = (16, 16, 32, 32, 96, 96, 256)


@dataclass(frozen=True)
class ControlNetConfig:
    unet: UNetConfig  # the encoder copy's hyperparameters (out_channels and the decoder are unused)
    hint_channels: int = 3
    hint_widths: tuple[int, ...] = CONTROLNET_HINT_WIDTHS
