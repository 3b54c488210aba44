"""The UNet's SpatialTransformer (CompVis `ldm.modules.attention`), with checkpoint key names.

Keys: `norm`, `proj_in`, `transformer_blocks.N.{attn1, attn2, ff.net.0.proj, ff.net.2, norm1..3}`,
`proj_out`. proj_in/proj_out are 1x1 convs (SD1) or Linear layers (SD2, `use_linear`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ldm_studio.engine.nets.attention import multi_head_attention


class CrossAttention(nn.Module):
    """Multi-head attention from `query_dim` tokens to `context_dim` tokens (self-attention when the
    context is None, which then needs context_dim == query_dim)."""

    def __init__(self, query_dim: int, context_dim: int, heads: int, dim_head: int):
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim, inner, bias=False)
        # A list, not Sequential(Linear, Dropout): key `to_out.0` with no inference-time no-op.
        self.to_out = nn.ModuleList([nn.Linear(inner, query_dim)])

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        context = x if context is None else context
        out = multi_head_attention(self.to_q(x), self.to_k(context), self.to_v(context), self.heads)
        return self.to_out[0](out)


class GEGLU(nn.Module):
    """Linear to twice the width, then value * gelu(gate) (exact erf gelu, as the original)."""

    def __init__(self, dim: int, inner: int):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4):
        super().__init__()
        # Index 1 held Dropout in the original; an Identity keeps `net.2` at its checkpoint index.
        self.net = nn.Sequential(GEGLU(dim, dim * mult), nn.Identity(), nn.Linear(dim * mult, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class BasicTransformerBlock(nn.Module):
    """Pre-LayerNorm block: self-attention, cross-attention to the context, GEGLU feed-forward.

    With `disable_self_attn` (SD x4 upscaler, outer levels) attn1 attends to the context as well.
    """

    def __init__(
        self, dim: int, heads: int, dim_head: int, context_dim: int, disable_self_attn: bool = False
    ):
        super().__init__()
        self.disable_self_attn = disable_self_attn
        self.attn1 = CrossAttention(dim, context_dim if disable_self_attn else dim, heads, dim_head)
        self.ff = FeedForward(dim)
        self.attn2 = CrossAttention(dim, context_dim, heads, dim_head)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        x = x + self.attn1(self.norm1(x), context if self.disable_self_attn else None)
        x = x + self.attn2(self.norm2(x), context)
        return x + self.ff(self.norm3(x))


class SpatialTransformer(nn.Module):
    """GroupNorm, project in, transformer blocks over the H*W tokens, project out, plus the input."""

    def __init__(
        self,
        channels: int,
        heads: int,
        dim_head: int,
        *,
        depth: int,
        context_dim: int,
        disable_self_attn: bool = False,
        use_linear: bool = False,
    ):
        super().__init__()
        inner = heads * dim_head
        self.use_linear = use_linear
        self.norm = nn.GroupNorm(32, channels, eps=1e-6)
        if use_linear:
            self.proj_in = nn.Linear(channels, inner)
            self.proj_out = nn.Linear(inner, channels)
        else:
            self.proj_in = nn.Conv2d(channels, inner, 1)
            self.proj_out = nn.Conv2d(inner, channels, 1)
        self.transformer_blocks = nn.ModuleList(
            BasicTransformerBlock(inner, heads, dim_head, context_dim, disable_self_attn)
            for _ in range(depth)
        )

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        batch, _, height, width = x.shape
        h = self.norm(x)
        if not self.use_linear:
            h = self.proj_in(h)
        # [B, C, H, W] -> [B, H*W, C] once, contiguous: the Linears and LayerNorms below run on dense rows.
        h = h.flatten(2).transpose(1, 2).contiguous()
        if self.use_linear:
            h = self.proj_in(h)
        for block in self.transformer_blocks:
            h = block(h, context)
        if self.use_linear:
            h = self.proj_out(h)
        h = h.transpose(1, 2).reshape(batch, -1, height, width).contiguous()
        if not self.use_linear:
            h = self.proj_out(h)
        return h + x
