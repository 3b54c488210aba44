"""The latent diffusion UNet in the original openaimodel layout.

`UNetModel(config).state_dict()` has exactly the keys of a real checkpoint with `model.diffusion_model.`
stripped (`time_embed`, `label_emb`, `input_blocks`, `middle_block`, `output_blocks`, `out`), so weights
load with no renaming. It builds on the meta device and has no buffers, so
`with torch.device("meta"): UNetModel(cfg)` then `load_state_dict(sd, assign=True)` loads without a
random init or a second copy of the weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ldm_studio.engine.nets.configs import UNetConfig
from ldm_studio.engine.nets.fast_conv import FastConv2d
from ldm_studio.engine.nets.transformer import SpatialTransformer
from ldm_studio.engine.nets.unet_blocks import (
    AttentionBlock,
    Downsample,
    EmbedSequential,
    ResBlock,
    Upsample,
    group_norm,
    timestep_embedding,
)


def attention_layer(cfg: UNetConfig, channels: int, level: int | None) -> nn.Module:
    """The attention layer of one level (None: the middle block, which always keeps self-attention).

    Shared with the ControlNet, whose encoder is a copy of this UNet's."""
    if cfg.num_head_channels != -1:
        heads, dim_head = channels // cfg.num_head_channels, cfg.num_head_channels
    else:
        heads, dim_head = cfg.num_heads, channels // cfg.num_heads
    if not cfg.use_spatial_transformer:
        return AttentionBlock(channels, heads)
    disable_self_attn = bool(
        level is not None and cfg.disable_self_attentions and cfg.disable_self_attentions[level]
    )
    return SpatialTransformer(
        channels,
        heads,
        dim_head,
        depth=cfg.depth_at(level),
        context_dim=cfg.context_dim or channels,
        disable_self_attn=disable_self_attn,
        use_linear=cfg.use_linear_in_transformer,
    )


class UNetModel(nn.Module):
    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = config
        mc = config.model_channels
        emb_dim = 4 * mc
        self.time_embed = nn.Sequential(nn.Linear(mc, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        if config.num_classes == "sequential":
            # SDXL's vector conditioning; the outer Sequential keeps the checkpoint keys `label_emb.0.{0,2}`.
            if not config.adm_in_channels:
                raise ValueError('num_classes="sequential" needs adm_in_channels')
            adm = nn.Sequential(
                nn.Linear(config.adm_in_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
            )
            self.label_emb = nn.Sequential(adm)
        elif config.num_classes is not None:
            self.label_emb = nn.Embedding(config.num_classes, emb_dim)

        self.input_blocks = nn.ModuleList([EmbedSequential(FastConv2d(config.in_channels, mc, 3, padding=1))])
        skip_channels = [mc]
        ch, ds = mc, 1
        last_level = len(config.channel_mult) - 1
        for level, mult in enumerate(config.channel_mult):
            for _ in range(config.num_res_blocks):
                layers: list[nn.Module] = [ResBlock(ch, emb_dim, mult * mc)]
                ch = mult * mc
                if ds in config.attention_resolutions:
                    layers.append(self._attention(ch, level))
                self.input_blocks.append(EmbedSequential(*layers))
                skip_channels.append(ch)
            if level != last_level:
                down = (
                    ResBlock(ch, emb_dim, ch, resample="down") if config.resblock_updown else Downsample(ch)
                )
                self.input_blocks.append(EmbedSequential(down))
                skip_channels.append(ch)
                ds *= 2

        self.middle_block = EmbedSequential(
            ResBlock(ch, emb_dim), self._attention(ch, level=None), ResBlock(ch, emb_dim)
        )

        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(config.channel_mult))):
            for i in range(config.num_res_blocks + 1):
                layers = [ResBlock(ch + skip_channels.pop(), emb_dim, mc * mult)]
                ch = mc * mult
                if ds in config.attention_resolutions:
                    layers.append(self._attention(ch, level))
                if level and i == config.num_res_blocks:
                    layers.append(
                        ResBlock(ch, emb_dim, ch, resample="up") if config.resblock_updown else Upsample(ch)
                    )
                    ds //= 2
                self.output_blocks.append(EmbedSequential(*layers))

        self.out = nn.Sequential(group_norm(ch), nn.SiLU(), FastConv2d(mc, config.out_channels, 3, padding=1))

    def _attention(self, channels: int, level: int | None) -> nn.Module:
        return attention_layer(self.config, channels, level)

    def forward(
        self,
        x: torch.Tensor,
        timesteps: torch.Tensor | float,
        context: torch.Tensor | None = None,
        y: torch.Tensor | None = None,
        down_residuals: Sequence[torch.Tensor] | None = None,
        mid_residual: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict eps or v for latents `x` [B, in_channels, H, W] (H, W multiples of 2**(levels-1)).

        `timesteps` is a float or a [B] / [1] / [] tensor (fractional t allowed); `context` the
        cross-attention tokens [B, T, context_dim]; `y` the class labels [B] of a class-conditional
        model (the x4 upscaler's noise level), or for `num_classes="sequential"` (SDXL) the float vector
        [B, adm_in_channels] (see sdxl_embed). Runs in the weights' dtype and returns x's dtype.
        `down_residuals` (one per input block) and `mid_residual` are a ControlNet's outputs: added to
        the skips and to the middle block's output, as the original cldm ControlledUnetModel does.
        """
        dtype = self.input_blocks[0][0].weight.dtype
        batch = x.shape[0]
        if (y is None) != (self.config.num_classes is None):
            raise ValueError("class labels `y` must be given exactly when the UNet has `num_classes`")
        t = torch.as_tensor(timesteps, device=x.device).reshape(-1)
        t = t.expand(batch) if t.shape[0] == 1 else t
        emb = self.time_embed(timestep_embedding(t, self.config.model_channels).to(dtype))
        if y is not None and self.config.num_classes == "sequential":
            emb = emb + self.label_emb(y.to(x.device, dtype).expand(batch, -1))
        elif y is not None:
            emb = emb + self.label_emb(y.to(x.device).reshape(-1).expand(batch))
        if context is not None:
            context = context.to(dtype)

        h = x.to(dtype)
        skips = []
        for block in self.input_blocks:
            h = block(h, emb, context)
            skips.append(h)
        h = self.middle_block(h, emb, context)
        if down_residuals is not None:
            if len(down_residuals) != len(skips):
                raise ValueError(f"{len(down_residuals)} down residuals for {len(skips)} input blocks")
            skips = [s + r.to(s.dtype) for s, r in zip(skips, down_residuals, strict=True)]
        if mid_residual is not None:
            h = h + mid_residual.to(h.dtype)
        for block in self.output_blocks:
            h = block(torch.cat([h, skips.pop()], dim=1), emb, context)
        return self.out(h).to(x.dtype)
