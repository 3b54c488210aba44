"""Denoisers D(x, σ): turn a UNet's ε or v output into a clean-latent estimate, then wrap it.

The layers compose from the inside out:
    make_denoiser(unet, schedule, prediction)  -> D(x, σ, cond)   one UNet call
    guided(D, cond, uncond, scale)             -> denoise(x, σ)   classifier-free guidance, one batched call
    lcm_boundary(denoise, schedule)            -> denoise(x, σ)   the consistency model's c_skip / c_out
    blend_inpaint(denoise, x0, mask, noise)    -> denoise(x, σ)   ordinary models painting inside a mask
and the sampler only ever sees the outermost `denoise(x, σ)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ldm_studio.engine.checkpoints.families import PREDICTIONS
from ldm_studio.engine.errors import InputError
from ldm_studio.engine.sampling.schedules import DiscreteSchedule

# unet(x, t, context=None, y=None) -> ε or v, with t a float tensor [B] of (fractional) timesteps.
UNet = Callable[..., torch.Tensor]
# control(x·c_in, t, σ, cond) -> extra UNet keywords (a ControlNet's down_residuals / mid_residual), or {}.
ControlHook = Callable[[torch.Tensor, torch.Tensor, float, "Conditioning"], dict]
ModelDenoiser = Callable[[torch.Tensor, float, "Conditioning"], torch.Tensor]
Denoise = Callable[[torch.Tensor, float], torch.Tensor]


@dataclass(frozen=True, eq=False)
class Conditioning:
    """What the UNet is conditioned on, batched like x.

    context: cross-attention tokens [B, L, C] (None for models without cross-attention);
    concat: extra input channels appended after x·c_in (9-channel inpainting, x4 upscaler, LDM-BSR);
    y: class labels for `label_emb` (the x4 upscaler's noise level).
    cond_rows: [B] 1.0 for rows of the conditional (prompt) half, 0.0 for the unconditional half; only
    set when something treats the halves differently (a ControlNet on the conditional side only).
    """

    context: torch.Tensor | None
    concat: torch.Tensor | None = None
    y: torch.Tensor | None = None
    cond_rows: torch.Tensor | None = None


def _cat(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
    if (a is None) != (b is None):
        raise ValueError("Cannot batch a conditioning that has a tensor with one that lacks it.")
    return None if a is None else torch.cat([a, b])


def batch_conditionings(first: Conditioning, second: Conditioning) -> Conditioning:
    """Both conditionings in one batch, `first` on top (context lengths must already match)."""
    return Conditioning(
        _cat(first.context, second.context),
        _cat(first.concat, second.concat),
        _cat(first.y, second.y),
        _cat(first.cond_rows, second.cond_rows),
    )


def make_denoiser(
    unet: UNet,
    schedule: DiscreteSchedule,
    prediction: str,
    *,
    quantize_t: bool = False,
    control: ControlHook | None = None,
) -> ModelDenoiser:
    """D(x, σ, cond) for an ε-, v- or x0-predicting UNet trained on `schedule`.

    The UNet sees x·c_in with c_in = 1/sqrt(σ²+1) (the variance-preserving latent) and t from σ.
    `quantize_t` rounds t to the nearest training step, as diffusers' DPM-Solver does with Karras
    sigmas; by default t stays fractional, as in diffusers' Euler and Heun. `control` adds residuals
    computed from the same scaled latent, without concat channels (as diffusers feeds its ControlNets).
    """
    if prediction not in PREDICTIONS:
        raise ValueError(f"Unknown prediction type {prediction!r}; expected one of {PREDICTIONS}.")

    def denoise(x: torch.Tensor, sigma: float, cond: Conditioning) -> torch.Tensor:
        sigma = float(sigma)
        t = schedule.sigma_to_t(sigma)
        t = (t.round() if quantize_t else t).to(device=x.device, dtype=torch.float32).expand(x.shape[0])
        c_in = 1 / math.sqrt(sigma**2 + 1)
        model_in = x * c_in if cond.concat is None else torch.cat([x * c_in, cond.concat.to(x.dtype)], dim=1)
        extra = control(x * c_in, t, sigma, cond) if control is not None else {}
        out = unet(model_in, t, context=cond.context, y=cond.y, **extra)
        if prediction == "eps":
            return x - sigma * out
        if prediction == "x0":
            return out
        return x * c_in**2 - (sigma * c_in) * out

    return denoise


def _x_coefficient(prediction: str, sigma: float) -> float:
    """a in D = a·x − b·out: the part of the denoised estimate that is not the UNet's output."""
    return {"eps": 1.0, "v": 1 / (sigma**2 + 1), "x0": 0.0}[prediction]


def _std(t: torch.Tensor) -> torch.Tensor:
    return t.std(dim=list(range(1, t.ndim)), keepdim=True)


def guided(
    denoiser: ModelDenoiser,
    cond: Conditioning,
    uncond: Conditioning | None,
    scale: float,
    *,
    rescale: float = 0.0,
    prediction: str = "eps",
) -> Denoise:
    """Classifier-free guidance: uncond + s·(cond − uncond), both halves in ONE batched UNet call.

    With scale ≤ 1 (or no uncond) there is no guidance, as in diffusers: the uncond half is skipped
    entirely, half the work. `rescale` φ > 0 is CFG rescale (Lin et al. 2024, diffusers' guidance_rescale):
    the guided UNet output gets the per-sample std of the conditional one, mixed φ : 1 − φ with the
    unrescaled. Like diffusers it works on the UNet's own output (ε, v or x0 for `prediction`), not on
    the denoised estimate: with D = a·x − b·out, rescaling out by k is D ← a·x + k·(D − a·x).
    """
    if not 0.0 <= rescale <= 1.0:
        raise InputError(f"CFG rescale must be between 0 and 1, got {rescale}.")
    if uncond is None or scale <= 1:
        return lambda x, sigma: denoiser(x, sigma, cond)
    both = batch_conditionings(uncond, cond)

    def denoise(x: torch.Tensor, sigma: float) -> torch.Tensor:
        from_uncond, from_cond = denoiser(torch.cat([x, x]), sigma, both).chunk(2)
        out = from_uncond + scale * (from_cond - from_uncond)
        if rescale == 0:
            return out
        # std(a·x − D) = b·std(out): the output's scale b cancels in the ratio.
        a = _x_coefficient(prediction, float(sigma))
        ratio = _std(a * x - from_cond) / _std(a * x - out)
        k = rescale * ratio + (1 - rescale)
        return a * x + k * (out - a * x)

    return denoise


def lcm_boundary(
    denoise: Denoise, schedule: DiscreteSchedule, *, timestep_scaling: float = 10.0, sigma_data: float = 0.5
) -> Denoise:
    """The consistency model's estimate c_skip·x_t + c_out·D, as diffusers' LCMScheduler computes it.

    x_t is the variance-preserving latent x/sqrt(σ²+1); with u = timestep_scaling·t,
    c_skip = σ_d²/(u² + σ_d²) and c_out = u/sqrt(u² + σ_d²), t the (fractional) timestep of σ.
    """

    def bounded(x: torch.Tensor, sigma: float) -> torch.Tensor:
        u = timestep_scaling * float(schedule.sigma_to_t(sigma))
        c_skip = sigma_data**2 / (u**2 + sigma_data**2)
        c_out = u / math.sqrt(u**2 + sigma_data**2)
        return c_out * denoise(x, sigma) + c_skip * (x / math.sqrt(float(sigma) ** 2 + 1))

    return bounded


def blend_inpaint(denoise: Denoise, x0: torch.Tensor, mask: torch.Tensor, noise: torch.Tensor) -> Denoise:
    """Inpainting with an ordinary model by blended latents; `mask` is 1 where to repaint.

    Before each model call the kept region is replaced by x0 noised to the current σ with the fixed
    `noise`, so the model sees a consistent image around the hole; the estimate keeps x0 there.
    """
    keep = 1 - mask

    def blended(x: torch.Tensor, sigma: float) -> torch.Tensor:
        x = x * mask + (x0 + noise * float(sigma)) * keep
        return denoise(x, sigma) * mask + x0 * keep

    return blended
