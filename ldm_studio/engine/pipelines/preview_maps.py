"""Which latent → RGB map a model's live previews use, fitted once per model when none is published."""

from __future__ import annotations

import weakref
from collections.abc import Callable

import numpy as np
import torch

from ldm_studio.engine.pipelines.previews import (
    LATENT_RGB_KL_F4,
    LATENT_RGB_KL_F8,
    LATENT_RGB_SDXL,
    fit_latent_rgb_map,
    latent_to_rgb,
)

PUBLISHED_MAPS = {"kl-f8": LATENT_RGB_KL_F8, "kl-f4": LATENT_RGB_KL_F4, "sdxl": LATENT_RGB_SDXL}
_fitted: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _probe_images(size: int = 64) -> torch.Tensor:
    """A few flat colours and gradients: enough variety to fit a linear map by least squares."""
    ramp = torch.linspace(-1, 1, size)
    gy, gx = torch.meshgrid(ramp, ramp, indexing="ij")
    colours = torch.tensor([[1, -1, -1], [-1, 1, -1], [-1, -1, 1], [1, 1, -1], [1, 1, 1], [-1, -1, -1.0]])
    flats = colours[:, :, None, None].expand(-1, -1, size, size)
    gradients = torch.stack([torch.stack([gx, gy, -gx]), torch.stack([gy, -gx, gx * gy])])
    return torch.cat([flats, gradients])


def fit_preview_map(vae, device=None, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """(matrix [C, 3], bias [3]) mapping this autoencoder's latents to RGB, by least squares."""
    with torch.inference_mode():
        images = _probe_images().to(device, dtype)
        latents = vae.encode(images)
        return fit_latent_rgb_map(vae.decode, latents, vae.config.downscale)


def _fit(model) -> tuple[torch.Tensor, torch.Tensor]:
    return fit_preview_map(model.vae, model.device, model.dtype)


def preview_function(model) -> Callable[[torch.Tensor], np.ndarray]:
    """latents [B, C, h, w] → uint8 (h, w, 3) picture of the first image, for this model."""
    config = model.config
    if config.preview_rgb is not None:
        rows = config.preview_rgb
        # One row per latent channel, optionally one more: the bias (as a least-squares fit gives it).
        has_bias = len(rows) == config.vae.embed_dim + 1
        matrix, bias = (rows[:-1], rows[-1]) if has_bias else (rows, None)
    elif config.preview in PUBLISHED_MAPS and config.vae.embed_dim == 4:
        matrix, bias = PUBLISHED_MAPS[config.preview], None
    else:
        if model not in _fitted:
            _fitted[model] = _fit(model)
        matrix, bias = _fitted[model]
    return lambda latents: latent_to_rgb(latents, matrix, bias)
