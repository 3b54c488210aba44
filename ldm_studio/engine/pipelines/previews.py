"""Cheap live previews: a latent becomes an RGB picture through one small linear map, no VAE decode.

The picture is at latent resolution (1/8 or 1/4 of the output); the GUI scales it up. A full decode
costs about as much as a whole sampling step, a linear map costs next to nothing (docs/MODEL_FACTS.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

# Rows are latent channels, columns R, G, B; applied to latents in model space (scale factor included).
LATENT_RGB_KL_F8: tuple[tuple[float, float, float], ...] = (
    (0.3512, 0.2297, 0.3227),
    (0.3250, 0.4974, 0.2350),
    (-0.2829, 0.1762, 0.2721),
    (-0.2120, -0.2616, -0.7177),
)
LATENT_RGB_KL_F4: tuple[tuple[float, float, float], ...] = (
    (-0.2340, -0.3863, -0.3257),
    (0.0994, 0.0885, -0.0908),
    (-0.2833, -0.2349, -0.3741),
    (0.2523, -0.0055, -0.1651),
)

# SDXL's VAE (same architecture, other weights, scale 0.13025) puts colour in other channels: brightness in
# the first, two colour-difference axes in the next, structure in the last. The published factors, as
# ComfyUI lists them for SDXL latents (comfy/latent_formats.py, class SDXL, latent_rgb_factors).
LATENT_RGB_SDXL: tuple[tuple[float, float, float], ...] = (
    (0.3920, 0.4054, 0.4549),
    (-0.2634, -0.0196, 0.0653),
    (0.0568, 0.1687, -0.0755),
    (-0.3112, -0.2359, -0.2076),
)

Matrix = torch.Tensor | Sequence[Sequence[float]]


def latent_to_rgb(
    latents: torch.Tensor, matrix: Matrix, bias: torch.Tensor | Sequence[float] | None = None
) -> np.ndarray:
    """The first latent of a batch [B, C, h, w] (or one [C, h, w]) as a uint8 (h, w, 3) picture."""
    latent = latents[0] if latents.dim() == 4 else latents
    if latent.dim() != 3:
        raise ValueError(f"expected latents [B, C, h, w] or [C, h, w], got shape {tuple(latents.shape)}")
    # A 4×64×64 latent is 64 KiB: copying it to the CPU costs less than a GPU kernel launch, and numpy
    # does the small product without waking torch's thread pool.
    latent = latent.detach().to("cpu", torch.float32).numpy()
    channels, height, width = latent.shape
    weights = np.asarray(matrix.cpu() if isinstance(matrix, torch.Tensor) else matrix, dtype=np.float32)
    if weights.shape != (channels, 3):
        raise ValueError(f"a {channels}-channel latent needs a {channels}x3 map, got {weights.shape}")
    rgb = latent.reshape(channels, -1).T @ weights  # (h·w, 3)
    if bias is not None:
        rgb += np.asarray(bias.cpu() if isinstance(bias, torch.Tensor) else bias, dtype=np.float32)
    np.clip(rgb, -1.0, 1.0, out=rgb)
    rgb += 1.0
    rgb *= 127.5
    return np.rint(rgb).astype(np.uint8).reshape(height, width, 3)


@torch.no_grad()
def fit_latent_rgb_map(
    decode: Callable[[torch.Tensor], torch.Tensor], latents: torch.Tensor, downscale: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fit (matrix [C, 3], bias [3]) so that latent·matrix + bias ≈ the decoded image at latent size.

    For autoencoders with no published map (the demo model, VQ). `decode` maps latents [B, C, h, w] to
    images [B, 3, h·downscale, w·downscale] in [-1, 1]; a few varied latents are enough.
    """
    latents = latents.detach().float()
    images = decode(latents).float()
    # Area averaging: each latent pixel stands for a downscale×downscale block of output pixels.
    small = F.avg_pool2d(images, downscale) if downscale != 1 else images
    if small.shape[-2:] != latents.shape[-2:]:
        raise ValueError(
            f"decoded size {tuple(images.shape[-2:])} is not {downscale}× "
            f"the latent size {tuple(latents.shape[-2:])}"
        )
    channels = latents.shape[1]
    x = latents.permute(0, 2, 3, 1).reshape(-1, channels).cpu()
    y = small.permute(0, 2, 3, 1).reshape(-1, 3).cpu()
    x_with_one = torch.cat([x, torch.ones(x.shape[0], 1)], dim=1)  # the last row of the solution is the bias
    solution = torch.linalg.lstsq(x_with_one.double(), y.double()).solution.float()
    return solution[:channels], solution[channels]
