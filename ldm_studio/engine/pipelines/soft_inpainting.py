"""Soft inpainting (Differential Diffusion, Levin & Fried 2023): a grey-level mask as per-pixel strength.

The mask is not thresholded. With a strength map s in [0, 1] and a run of n steps, step i has the
threshold 1 − i/n (falling from 1 to 0): where s is below it, the latent is reset to the input's latent
noised to the current σ (and its estimate is the input's latent), elsewhere the model is free. So a pixel
of strength 1 changes from the first step, one of strength 0 never, and one of strength s joins for the
last s of the schedule, starting from the input noised to where the schedule then is. It is the blended-
latents wrapper (`sampling.denoisers.blend_inpaint`) with a mask that grows step by step; a 9-channel
inpainting model gets the same wrapper around its own denoiser, and its mask channel marks every pixel
of any strength as repaintable. The result goes back through the soft mask as alpha, so strength-0
pixels are the input's bytes.
"""

from __future__ import annotations

import numpy as np
import torch

from ldm_studio.engine.pipelines.images import feather_mask, mask_to_latent, mask_to_tensor
from ldm_studio.engine.requests import GenerationRequest
from ldm_studio.engine.sampling.denoisers import Denoise


def feathered_request(request: GenerationRequest) -> GenerationRequest:
    """The request whose mask is the strength map: the painted mask feathered inside itself by the mask
    blur (so unpainted pixels keep strength 0), with the blur then set to 0 (already applied)."""
    mask = request.mask
    if request.mask_blur > 0:
        soft = feather_mask(mask_to_tensor(mask), request.mask_blur / 2.5)[0, 0].numpy()
        feathered = np.round(soft * 255).astype(np.uint8)
        # A stroke thinner than the feather would vanish: keep the painted mask then.
        mask = feathered if feathered.any() else mask
    return request.replace(mask=mask, mask_blur=0)


def hole_mask(mask: np.ndarray) -> np.ndarray:
    """A 9-channel model's mask channel: every pixel of any strength may be repainted."""
    return np.where(mask > 0, 255, 0).astype(np.uint8)


def latent_strength(mask: np.ndarray, factor: int, device, dtype: torch.dtype) -> torch.Tensor:
    """The strength of each latent cell [1, 1, h, w]: the mean of its pixels' mask values."""
    return mask_to_latent(mask_to_tensor(mask), factor, "area").to(device=device, dtype=dtype)


def step_thresholds(steps: int) -> list[float]:
    """The threshold of each step: 1 − i/n; a cell is free at step i when its strength ≥ the threshold."""
    return [1.0 - i / steps for i in range(steps)]


def differential_blend(
    denoise: Denoise, x0: torch.Tensor, strength: torch.Tensor, noise: torch.Tensor, sigmas: torch.Tensor
) -> Denoise:
    """`denoise` painting where the per-step mask `strength ≥ 1 − i/n` allows, keeping x0 elsewhere.

    The step is read from σ: a call at σ = sigmas[i] is step i. Heun's second call of step i, at
    sigmas[i + 1], uses step i + 1's mask (cells joining then start half a step early)."""
    steps = max(len(sigmas) - 1, 1)
    later = [float(s) for s in sigmas[1:-1]]  # σ of steps 1 … n − 1
    thresholds = step_thresholds(steps)
    free_masks: dict[int, torch.Tensor] = {}

    def free_at(sigma: float) -> torch.Tensor:
        step = sum(1 for s in later if s >= sigma * (1 - 1e-6))
        if step not in free_masks:
            free_masks[step] = (strength >= thresholds[step] - 1e-6).to(x0.dtype)
        return free_masks[step]

    def blended(x: torch.Tensor, sigma: float) -> torch.Tensor:
        free = free_at(float(sigma))
        keep = 1 - free
        x = x * free + (x0 + noise * float(sigma)) * keep
        return denoise(x, sigma) * free + x0 * keep

    return blended
