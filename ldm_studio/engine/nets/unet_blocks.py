"""Building blocks of the openaimodel UNet, named after their checkpoint keys.

ResBlock (`in_layers`, `emb_layers`, `out_layers`, `skip_connection`), Downsample (`op`), Upsample
(`conv`), the legacy AttentionBlock of the CompVis LDM models (`norm`, `qkv`, `proj_out`), and the
sinusoidal timestep embedding.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ldm_studio.engine.nets.attention import head_attention
from ldm_studio.engine.nets.fast_conv import FastConv2d
from ldm_studio.engine.nets.transformer import SpatialTransformer


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding [B, dim] in float32, cos half first (the LDM order; diffusers' flip_sin_to_cos).

    Timesteps may be fractional (Karras schedules interpolate t between the training steps).
    """
    half = dim // 2
    exponents = torch.arange(half, dtype=torch.float32, device=timesteps.device) / half
    freqs = torch.exp(-math.log(max_period) * exponents)
    args = timesteps.to(torch.float32)[:, None] * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(embedding, (0, dim % 2))


def group_norm(channels: int) -> nn.GroupNorm:
    """The UNet's GroupNorm32: 32 groups, eps 1e-5 (the transformer's own norm uses 1e-6)."""
    return nn.GroupNorm(32, channels, eps=1e-5)


class Downsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = FastConv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class ResBlock(nn.Module):
    """GN-SiLU-conv, add the projected time embedding, GN-SiLU-conv, plus a (1x1 projected) skip.

    `resample` "down"/"up" is the `resblock_updown` variant: both paths are average-pooled or
    nearest-upsampled between the first norm and conv, with no weights of their own.
    """

    def __init__(self, channels: int, emb_channels: int, out_channels: int | None = None, resample: str = ""):
        super().__init__()
        out_channels = out_channels or channels
        self.resample = resample
        self.in_layers = nn.Sequential(
            group_norm(channels), nn.SiLU(), FastConv2d(channels, out_channels, 3, padding=1)
        )
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, out_channels))
        # Index 2 held Dropout in the original; the Identity keeps the conv at key `out_layers.3`.
        self.out_layers = nn.Sequential(
            group_norm(out_channels),
            nn.SiLU(),
            nn.Identity(),
            FastConv2d(out_channels, out_channels, 3, padding=1),
        )
        self.skip_connection = (
            nn.Identity() if out_channels == channels else nn.Conv2d(channels, out_channels, 1)
        )

    def _resampled(self, x: torch.Tensor) -> torch.Tensor:
        if self.resample == "down":
            return F.avg_pool2d(x, kernel_size=2, stride=2)
        if self.resample == "up":
            return F.interpolate(x, scale_factor=2.0, mode="nearest")
        return x

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.resample:
            norm, act, conv = self.in_layers
            h = conv(self._resampled(act(norm(x))))
            x = self._resampled(x)
        else:
            h = self.in_layers(x)
        h = h + self.emb_layers(emb)[:, :, None, None].to(h.dtype)
        return self.skip_connection(x) + self.out_layers(h)


class AttentionBlock(nn.Module):
    """Legacy self-attention of the CompVis LDM UNets (LDM-BSR, LDM inpainting): no context.

    `qkv` is one Conv1d whose output channels are grouped per head as [q k v] (QKVAttentionLegacy
    reshapes into heads first, then splits), so the split below must follow that order.
    """

    def __init__(self, channels: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm = group_norm(channels)
        self.qkv = nn.Conv1d(channels, channels * 3, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        flat = x.reshape(batch, channels, height * width)
        qkv = self.qkv(self.norm(flat))
        d_head = channels // self.heads
        # [B, heads*3*d, L] -> [B, heads, L, 3*d]: one copy, then q/k/v are views with dense last dims.
        qkv = qkv.reshape(batch, self.heads, 3 * d_head, -1).transpose(2, 3).contiguous()
        q, k, v = qkv.split(d_head, dim=-1)
        out = head_attention(q, k, v).transpose(2, 3).reshape(batch, channels, -1)
        return (flat + self.proj_out(out)).reshape(batch, channels, height, width)


class EmbedSequential(nn.Sequential):
    """One `input_blocks.N` / `output_blocks.N` / `middle_block`: hands each layer what it needs."""

    def forward(
        self, x: torch.Tensor, emb: torch.Tensor, context: torch.Tensor | None = None
    ) -> torch.Tensor:
        for layer in self:
            if isinstance(layer, ResBlock):
                x = layer(x, emb)
            elif isinstance(layer, SpatialTransformer):
                x = layer(x, context)
            else:
                x = layer(x)
        return x
