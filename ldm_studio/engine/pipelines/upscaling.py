"""The upscalers' denoiser: guided by text where the model reads it, tiled over large inputs.

The x4 upscaler was trained on 128-pixel low-res crops; larger inputs are denoised in overlapping
latent tiles (each with its matching crop of the low-res image), blended with linear ramps so the
seams do not show, at every step.
"""

from __future__ import annotations

import torch

from ldm_studio.engine.nets.tiling import map_tiled
from ldm_studio.engine.pipelines.conditioning import pair
from ldm_studio.engine.sampling.denoisers import Denoise, ModelDenoiser, guided

UNET_TILE, UNET_OVERLAP = 128, 32  # latent pixels (= low-res pixels for the x4 upscaler)


def upscale_denoiser(
    model_denoiser: ModelDenoiser,
    contexts: tuple[torch.Tensor, torch.Tensor] | None,
    low_res: torch.Tensor,
    y: torch.Tensor | None,
    cfg_scale: float,
    *,
    tile: int = UNET_TILE,
    overlap: int = UNET_OVERLAP,
    align: int = 8,
) -> Denoise:
    """denoise(x, σ) for latents `x` the size of `low_res`; tiled when larger than `tile`."""

    def denoise_region(x: torch.Tensor, sigma: float, region: torch.Tensor) -> torch.Tensor:
        positive, negative = pair(contexts, region, y)
        return guided(model_denoiser, positive, negative, cfg_scale)(x, sigma)

    height, width = low_res.shape[-2:]
    if height <= tile and width <= tile:
        return lambda x, sigma: denoise_region(x, sigma, low_res)

    def tiled(x: torch.Tensor, sigma: float) -> torch.Tensor:
        channels = x.shape[1]
        both = torch.cat([x, low_res.to(x.dtype)], dim=1)  # crop x and its low-res input together
        return map_tiled(
            lambda crop: denoise_region(crop[:, :channels], sigma, crop[:, channels:]),
            both,
            tile=tile,
            overlap=overlap,
            scale=1,
            align=align,
        )

    return tiled
