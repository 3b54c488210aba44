"""ControlNet (Zhang et al. 2023) in the original cldm layout: a copy of the UNet's encoder that reads a hint.

`ControlNet(config).state_dict()` has the keys of a released file with `control_model.` stripped:
`time_embed`, `label_emb` (SDXL), `input_blocks` and `middle_block` built exactly as the UNet's (same
blocks, same names), `input_hint_block` (eight 3x3 convs with SiLU between them, three of stride 2, so
the hint image comes down to the latent size), `zero_convs.N.0` (one 1x1 conv per input block) and
`middle_block_out.0`. The hint's features are added after the first input block (the UNet's conv_in);
each input block's output goes through its zero conv to become the residual added to the UNet's
matching skip, and the middle block's through `middle_block_out` to the UNet's middle output.
"""

from __future__ import annotations

import torch
from torch import nn

from ldm_studio.engine.nets.configs import ControlNetConfig
from ldm_studio.engine.nets.fast_conv import FastConv2d
from ldm_studio.engine.nets.unet import attention_layer
from ldm_studio.engine.nets.unet_blocks import (
    Downsample,
    EmbedSequential,
    ResBlock,
    timestep_embedding,
)

_HINT_STRIDED = (2, 4, 6)  # positions in hint_widths whose conv has stride 2


def _hint_block(config: ControlNetConfig) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = config.hint_channels
    for i, out in enumerate(config.hint_widths):
        stride = 2 if i in _HINT_STRIDED else 1
        layers += [nn.Conv2d(width, out, 3, stride=stride, padding=1), nn.SiLU()]
        width = out
    layers.append(nn.Conv2d(width, config.unet.model_channels, 3, padding=1))
    return nn.Sequential(*layers)


class ControlNet(nn.Module):
    def __init__(self, config: ControlNetConfig):
        super().__init__()
        self.config = config
        cfg = config.unet
        mc = cfg.model_channels
        emb_dim = 4 * mc
        self.time_embed = nn.Sequential(nn.Linear(mc, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        if cfg.num_classes == "sequential":
            adm = nn.Sequential(
                nn.Linear(cfg.adm_in_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
            )
            self.label_emb = nn.Sequential(adm)
        elif cfg.num_classes is not None:
            raise ValueError("a ControlNet with class labels (other than SDXL's vector) is not supported")
        self.input_hint_block = _hint_block(config)
        self.input_blocks = nn.ModuleList([EmbedSequential(FastConv2d(cfg.in_channels, mc, 3, padding=1))])
        widths = [mc]
        ch, ds = mc, 1
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks):
                layers: list[nn.Module] = [ResBlock(ch, emb_dim, mult * mc)]
                ch = mult * mc
                if ds in cfg.attention_resolutions:
                    layers.append(attention_layer(cfg, ch, level))
                self.input_blocks.append(EmbedSequential(*layers))
                widths.append(ch)
            if level != len(cfg.channel_mult) - 1:
                down = ResBlock(ch, emb_dim, ch, resample="down") if cfg.resblock_updown else Downsample(ch)
                self.input_blocks.append(EmbedSequential(down))
                widths.append(ch)
                ds *= 2
        self.zero_convs = nn.ModuleList([nn.Sequential(nn.Conv2d(w, w, 1)) for w in widths])
        self.middle_block = EmbedSequential(
            ResBlock(ch, emb_dim), attention_layer(cfg, ch, None), ResBlock(ch, emb_dim)
        )
        self.middle_block_out = nn.Sequential(nn.Conv2d(ch, ch, 1))

    def forward(
        self,
        x: torch.Tensor,
        hint: torch.Tensor,
        timesteps: torch.Tensor | float,
        context: torch.Tensor | None = None,
        y: torch.Tensor | None = None,
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The residuals for latents `x` [B, 4, h, w] and the hint image [B, hint_channels, 8h, 8w].

        The hint is in [0, 1] (the inpaint ControlNet's masked pixels are -1); `timesteps`, `context`
        and `y` as the UNet takes them. Returns (one residual per input block, the middle residual)
        in x's dtype, unscaled: weights and soft scales are the caller's.
        """
        dtype = self.input_blocks[0][0].weight.dtype
        batch = x.shape[0]
        t = torch.as_tensor(timesteps, device=x.device).reshape(-1)
        t = t.expand(batch) if t.shape[0] == 1 else t
        emb = self.time_embed(timestep_embedding(t, self.config.unet.model_channels).to(dtype))
        if self.config.unet.num_classes == "sequential":
            if y is None:
                raise ValueError("an SDXL ControlNet needs the vector conditioning `y`")
            emb = emb + self.label_emb(y.to(x.device, dtype).expand(batch, -1))
        if context is not None:
            context = context.to(dtype)
        guided_hint = self.input_hint_block(hint.to(x.device, dtype))
        if guided_hint.shape[-2:] != x.shape[-2:]:
            raise ValueError(
                f"the control image gives {tuple(guided_hint.shape[-2:])} features for a latent of "
                f"{tuple(x.shape[-2:])}: it must be 8x the latent size"
            )
        h = x.to(dtype)
        outs = []
        for i, (block, zero_conv) in enumerate(zip(self.input_blocks, self.zero_convs, strict=True)):
            h = block(h, emb, context)
            if i == 0:
                h = h + guided_hint.expand(batch, -1, -1, -1)
            outs.append(zero_conv(h).to(x.dtype))
        h = self.middle_block(h, emb, context)
        return outs, self.middle_block_out(h).to(x.dtype)
