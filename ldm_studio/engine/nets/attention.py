"""Multi-head attention on token tensors, through torch's fused scaled_dot_product_attention.

SDPA picks the flash / memory-efficient kernels on a GPU and never materialises the full attention
matrix there, which is what makes 64x64 latents (4096 tokens) cheap. Every attention in the networks
(UNet transformer blocks, legacy UNet attention, VAE mid attention) goes through here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def multi_head_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
    """Softmax attention with scale d_head^-0.5.

    q: [B, Lq, heads*d], k and v: [B, Lk, heads*d] -> [B, Lq, heads*d]. The channel axis is split into
    heads as contiguous blocks of d, the layout of the original `to_q`/`to_k`/`to_v` weights.
    """
    batch, q_len, inner = q.shape
    d_head = inner // heads
    q = q.view(batch, q_len, heads, d_head).transpose(1, 2)
    k = k.view(batch, -1, heads, d_head).transpose(1, 2)
    v = v.view(batch, -1, heads, d_head).transpose(1, 2)
    out = F.scaled_dot_product_attention(q, k, v)
    return out.transpose(1, 2).reshape(batch, q_len, inner)


def head_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Attention on tensors already split into heads: [B, heads, L, d] each -> [B, heads, Lq, d]."""
    return F.scaled_dot_product_attention(q, k, v)
