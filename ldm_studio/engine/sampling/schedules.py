"""Noise schedules: the model's discrete ᾱ table, σ ↔ t, and the σ lists samplers walk.

Everything works in k-diffusion's σ-space, x = x0 + σ·ε. The functions at the bottom say explicitly
how a run starts and ends, because diffusers (whose images we reproduce with the `normal` schedule)
starts from noise·sqrt(σ0²+1) ("leading" spacing; noise·σ0 with "trailing") and lets DDIM/PLMS stop at
ᾱ[0] instead of σ = 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.requests import SCHEDULES

# Samplers that stop at ᾱ[0] (diffusers' set_alpha_to_one=False) rather than at σ = 0.
_ENDS_AT_SIGMA_MIN = ("ddim", "plms")
# DPM-Solver spaces its steps over n+1 slots and drops the last (diffusers' own "leading" rule).
_DPM_SPACING = ("dpmpp_2m", "dpmpp_2m_sde")
KARRAS_RHO = 7.0
# LCM's timesteps are a subset of the grid it was distilled on (diffusers' original_inference_steps).
LCM_ORIGINAL_STEPS = 50
# ᾱ_T with zero terminal SNR is 0 (σ_T = ∞); diffusers' Euler uses the smallest fp16 subnormal instead,
# so σ_T ≈ 4096 is finite and every σ-space sampler can start there.
ZERO_SNR_ALPHA_CUMPROD = 2.0**-24


@dataclass(frozen=True, eq=False)
class DiscreteSchedule:
    """A model's training schedule: ᾱ_t for t = 0 … T−1, in float64."""

    alphas_cumprod: torch.Tensor

    @property
    def num_timesteps(self) -> int:
        return self.alphas_cumprod.shape[0]

    @property
    def sigmas(self) -> torch.Tensor:
        """σ_t = sqrt((1 − ᾱ_t) / ᾱ_t), increasing with t."""
        return ((1 - self.alphas_cumprod) / self.alphas_cumprod).sqrt()

    @property
    def sigma_min(self) -> float:
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        return float(self.sigmas[-1])

    def sigma_to_t(self, sigma: torch.Tensor | float) -> torch.Tensor:
        """Fractional t for σ, interpolating linearly in log σ; clamped to [0, T−1]."""
        log_sigmas = self.sigmas.log()
        log_sigma = torch.as_tensor(sigma, dtype=torch.float64).clamp(min=1e-10).log()
        low = (torch.searchsorted(log_sigmas, log_sigma, right=True) - 1).clamp(0, self.num_timesteps - 2)
        w = (log_sigma - log_sigmas[low]) / (log_sigmas[low + 1] - log_sigmas[low])
        return low + w.clamp(0, 1)

    def t_to_sigma(self, t: torch.Tensor | float) -> torch.Tensor:
        """σ at a (possibly fractional) t, interpolating linearly in log σ."""
        log_sigmas = self.sigmas.log()
        t = torch.as_tensor(t, dtype=torch.float64).clamp(0, self.num_timesteps - 1)
        low = t.floor().long().clamp(max=self.num_timesteps - 2)
        w = t - low
        return ((1 - w) * log_sigmas[low] + w * log_sigmas[low + 1]).exp()


def rescale_zero_terminal_snr(betas: torch.Tensor) -> torch.Tensor:
    """Betas whose ᾱ_T is exactly 0 (Lin et al. 2024, Algorithm 1; diffusers' function of this name).

    sqrt(ᾱ) is shifted so its last value is 0 and scaled so its first stays as it was.
    """
    sqrt_ab = torch.cumprod(1 - betas, dim=0).sqrt()
    first, last = sqrt_ab[0].clone(), sqrt_ab[-1].clone()
    sqrt_ab = (sqrt_ab - last) * (first / (first - last))
    alphas_cumprod = sqrt_ab**2
    alphas = torch.cat([alphas_cumprod[:1], alphas_cumprod[1:] / alphas_cumprod[:-1]])
    return 1 - alphas


def linear_schedule(
    beta_start: float = 0.00085,
    beta_end: float = 0.012,
    num_timesteps: int = 1000,
    *,
    zero_terminal_snr: bool = False,
) -> DiscreteSchedule:
    """CompVis "linear" betas (diffusers' "scaled_linear"): linspace of the square roots, squared.

    `zero_terminal_snr` rescales them so ᾱ_T = 0 (models trained that way, e.g. SDXL fine-tunes that
    carry a `ztsnr` key), then sets ᾱ_T to 2⁻²⁴ as diffusers' Euler does, so σ_max stays finite.
    """
    betas = (
        torch.linspace(math.sqrt(beta_start), math.sqrt(beta_end), num_timesteps, dtype=torch.float64) ** 2
    )
    if not zero_terminal_snr:
        return DiscreteSchedule(torch.cumprod(1 - betas, dim=0))
    alphas_cumprod = torch.cumprod(1 - rescale_zero_terminal_snr(betas), dim=0)
    alphas_cumprod[-1] = ZERO_SNR_ALPHA_CUMPROD
    return DiscreteSchedule(alphas_cumprod)


def leading_timesteps(steps: int, num_timesteps: int = 1000, *, slots: int | None = None) -> torch.Tensor:
    """diffusers' "leading" spacing with steps_offset 1, descending: 20 steps → 951, 901, …, 1.

    `slots` > steps spaces the steps as if there were that many and keeps the first `steps`
    (DPM-Solver uses slots = steps + 1: 10 steps → 901, 811, …, 91).
    """
    slots = slots or steps
    ratio = num_timesteps // slots
    return (torch.arange(slots - steps, slots, dtype=torch.long) * ratio + 1).flip(0)


def trailing_timesteps(steps: int, num_timesteps: int = 1000) -> torch.Tensor:
    """diffusers' "trailing" spacing, descending from T − 1: round(T − i·T/n) − 1.

    4 steps: 999, 749, 499, 249 (ComfyUI's sgm_uniform idea, on integer steps). The values step by
    (T − T/n) − T, as numpy's arange computes them, so ties round the same way.
    """
    total = torch.tensor(float(num_timesteps), dtype=torch.float64)
    delta = (total - num_timesteps / steps) - total
    return (total + torch.arange(steps, dtype=torch.float64) * delta).round().long() - 1


def lcm_timesteps(
    steps: int, num_timesteps: int = 1000, original_steps: int = LCM_ORIGINAL_STEPS
) -> torch.Tensor:
    """diffusers' LCMScheduler: `steps` evenly spaced indices into its distillation grid, descending.

    The grid is k·j − 1 for j = 1 … original_steps with k = T // original_steps (999, 979, …, 19 for 50);
    4 steps take indices floor(linspace(0, 50, 4, endpoint=False)) = 0, 12, 25, 37 → 999, 759, 499, 259.
    """
    if steps > original_steps:
        raise InputError(f"The LCM sampler takes at most {original_steps} steps, got {steps}.")
    grid = (
        torch.arange(1, original_steps + 1, dtype=torch.long) * (num_timesteps // original_steps) - 1
    ).flip(0)
    indices = (torch.arange(steps, dtype=torch.float64) * (original_steps / steps)).floor().long()
    return grid[indices]


def karras_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float = KARRAS_RHO) -> torch.Tensor:
    """Karras et al. (2022): σ evenly spaced in σ^(1/ρ) from σ_max down to σ_min (no final 0)."""
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
    max_inv, min_inv = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    return (max_inv + ramp * (min_inv - max_inv)) ** rho


def sampling_sigmas(
    schedule: DiscreteSchedule, steps: int, kind: str = "normal", sampler: str = "euler"
) -> torch.Tensor:
    """The descending σ list a sampler walks: `steps` + 1 values (float64, CPU).

    `normal` reproduces diffusers' SD schedulers for that sampler (for lcm: LCMScheduler's timesteps);
    `karras` is ρ = 7 between the model's σ_min and σ_max, then 0; `trailing` starts at t = T − 1 (σ_max)
    and steps evenly in t, then 0, for every sampler. With `normal`, ddim and plms end at σ_min (ᾱ[0])
    instead of 0: pass the result through `finish_latent`.
    """
    if kind not in SCHEDULES:
        raise InputError(f"Unknown schedule {kind!r}; expected one of {', '.join(SCHEDULES)}.")
    if not 1 <= steps < schedule.num_timesteps:
        raise InputError(f"Steps must be between 1 and {schedule.num_timesteps - 1}, got {steps}.")
    if kind == "karras":
        sigmas = karras_sigmas(steps, schedule.sigma_min, schedule.sigma_max)
        return torch.cat([sigmas, sigmas.new_zeros(1)])
    if kind == "trailing":
        sigmas = schedule.sigmas[trailing_timesteps(steps, schedule.num_timesteps)]
        return torch.cat([sigmas, sigmas.new_zeros(1)])
    if sampler == "lcm":
        sigmas = schedule.sigmas[lcm_timesteps(steps, schedule.num_timesteps)]
        return torch.cat([sigmas, sigmas.new_zeros(1)])
    slots = steps + 1 if sampler in _DPM_SPACING else steps
    sigmas = schedule.sigmas[leading_timesteps(steps, schedule.num_timesteps, slots=slots)]
    last = schedule.sigma_min if sampler in _ENDS_AT_SIGMA_MIN else 0.0
    return torch.cat([sigmas, sigmas.new_full((1,), last)])


def img2img_sigmas(sigmas: torch.Tensor, strength: float) -> torch.Tensor:
    """The tail of `sigmas` that img2img runs, as diffusers does: the last int(steps·strength) steps.

    Strength 0 leaves no step and returns [0.], so the start is x0 itself and nothing is sampled.
    """
    if not 0.0 <= strength <= 1.0:
        raise InputError(f"Denoising strength must be between 0 and 1, got {strength}.")
    steps = len(sigmas) - 1
    kept = min(int(steps * strength), steps)
    return sigmas[steps - kept :] if kept > 0 else sigmas.new_zeros(1)


def initial_latent(noise: torch.Tensor, sigmas: torch.Tensor, kind: str = "normal") -> torch.Tensor:
    """txt2img start: noise·sqrt(σ0² + 1), diffusers' init_noise_sigma for "leading" spacing (`normal`,
    `karras`; LCMScheduler's unit-variance start is the same); noise·σ0 for `trailing`, as diffusers'
    Euler schedulers start with that spacing.

    k-diffusion uses noise·σ0; the extra +1 is the variance of the (unit-scaled) clean latent.
    """
    if kind == "trailing":
        return noise * float(sigmas[0])
    return noise * math.sqrt(float(sigmas[0]) ** 2 + 1)


def noised_latent(x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """img2img start: x0 noised to σ (equals diffusers' add_noise for every SD scheduler)."""
    return x0 + noise * float(sigma)


def finish_latent(x: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """The latent to decode after sampling: x / sqrt(σ_last² + 1) (a no-op when σ_last = 0).

    DDIM/PLMS with `normal` stop at σ_min; diffusers returns that sample in variance-preserving
    scale, which is what the VAE was trained on.
    """
    last = float(sigmas[-1])
    return x if last == 0 else x / math.sqrt(last**2 + 1)
