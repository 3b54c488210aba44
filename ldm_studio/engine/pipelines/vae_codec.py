"""VAE encode/decode as the pipeline uses them: tiled when large, and safe from fp16 overflow.

Untiled VAE memory grows with the square of the latent pixel count (the mid-block attention), so large
images go through overlapping tiles. SD's VAE can overflow in fp16 and give NaN (black images): such a
decode is retried in fp32.
"""

from __future__ import annotations

import torch

from ldm_studio.engine.runtime.host_memory import return_free_memory

# Above this many latent pixels (96² = a 768² SD image) the VAE works in tiles.
TILE_ABOVE_LATENT_PIXELS = 96 * 96
DECODE_TILE, DECODE_OVERLAP = 64, 16  # latent pixels
TRIM_ABOVE_LATENT_PIXELS = 32 * 32  # a 256² SD image
ENCODE_TILE_LATENT, ENCODE_OVERLAP_LATENT = 64, 8  # latent pixels (times the factor for pixels)


def _large(height: int, width: int) -> bool:
    return height * width > TILE_ABOVE_LATENT_PIXELS


def decode_latents(vae, latents: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] for `latents` (already scaled), tiled when large, retried in fp32 on NaN."""
    # A big CPU decode is the run's memory peak: start it from a lean heap. (Not for small ones, where the
    # trim and the page faults after it cost more than the memory is worth.)
    if latents.device.type == "cpu" and latents[0, 0].numel() >= TRIM_ABOVE_LATENT_PIXELS:
        return_free_memory()
    images = _decode(vae, latents)
    if vae.dtype != torch.float32 and not torch.isfinite(images).all():
        original = vae.dtype
        vae.float()
        try:
            images = _decode(vae, latents.float())
        finally:
            vae.to(original)
    return images


def _decode(vae, latents: torch.Tensor) -> torch.Tensor:
    if _large(*latents.shape[-2:]):
        return vae.decode_tiled(latents, tile=DECODE_TILE, overlap=DECODE_OVERLAP)
    return vae.decode(latents)


def encode_pixels(vae, pixels: torch.Tensor, generator=None) -> torch.Tensor:
    """Latents (scaled) of images in [-1, 1]; tiled when large. `generator`: a torch.Generator or a
    NoiseSource (one posterior sample per image) for a sampled latent, None for the mean."""
    factor = vae.config.downscale
    if _large(pixels.shape[-2] // factor, pixels.shape[-1] // factor):
        return vae.encode_tiled(
            pixels,
            tile=ENCODE_TILE_LATENT * factor,
            overlap=ENCODE_OVERLAP_LATENT * factor,
            generator=generator,
        )
    return vae.encode(pixels, generator=generator)
