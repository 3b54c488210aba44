"""Conversions between uint8 image batches and the [-1, 1] NCHW tensors the networks take."""

from __future__ import annotations

import numpy as np
import torch


def to_model_range(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float32 in [-1, 1]."""
    # np.require copies only a read-only array (PIL's), which torch.from_numpy warns about. Contiguous:
    # the permuted view is channels-last, which every layer after it would keep, and torch 2.13's
    # channels-last GroupNorm backward crashes on two threads (tests/training/test_sr_autoencoder.py).
    pixels = torch.from_numpy(np.require(images, requirements="W")).permute(0, 3, 1, 2)
    return pixels.contiguous().float() / 127.5 - 1.0


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in about [-1, 1] -> (N, H, W, 3) uint8, rounded and clipped."""
    pixels = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round()
    return pixels.permute(0, 2, 3, 1).to(torch.uint8).numpy()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 images (or batches) of the same shape."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))
