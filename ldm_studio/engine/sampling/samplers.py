"""Samplers as pure functions in k-diffusion form, plus the registry the pipeline looks them up in.

Each sampler is `sample_NAME(denoise, x, sigmas, *, generator=None, callback=None, **opts) -> x`:
`denoise(x, sigma) -> denoised` (σ a float), `sigmas` descending (see `schedules.sampling_sigmas`),
`callback(i, sigma, x, denoised)` after step i with the new x. Noise is drawn on the CPU from the given
`torch.Generator`, or a `noise.NoiseSource` (one generator per image of the batch), so a seed gives the
same image on every device; never from the global RNG.
Cancelling is the denoiser's business (it raises); samplers neither print nor know about it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.sampling.noise import NoiseSource, draw_noise

Denoise = Callable[[torch.Tensor, float], torch.Tensor]
Callback = Callable[[int, float, torch.Tensor, torch.Tensor], None]
Generator = torch.Generator | NoiseSource


def _steps(sigmas: torch.Tensor) -> list[tuple[float, float]]:
    return list(itertools.pairwise(float(s) for s in sigmas))


def _require_generator(generator: Generator | None, sampler: str) -> Generator:
    # Checked before the first model call: on a CPU that call can take half a minute.
    if generator is None:
        raise ValueError(f"The {sampler} sampler adds noise: pass a torch.Generator for a reproducible run.")
    return generator


def _noise(x: torch.Tensor, generator: Generator) -> torch.Tensor:
    # A NoiseSource draws image i of the batch from its own seed (noise.py); a plain generator the batch.
    return draw_noise(generator, x.shape).to(x.device, x.dtype)


def _report(callback: Callback | None, i: int, sigma: float, x: torch.Tensor, denoised: torch.Tensor) -> None:
    if callback is not None:
        callback(i, sigma, x, denoised)


def _ancestral_split(sigma: float, sigma_next: float, eta: float) -> tuple[float, float]:
    """(σ_down, σ_up): go deterministically to σ_down, then add fresh noise of σ_up."""
    if sigma_next == 0 or eta == 0:
        return sigma_next, 0.0
    up = min(sigma_next, eta * math.sqrt(sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2))
    return math.sqrt(sigma_next**2 - up**2), up


@torch.no_grad()
def sample_euler(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    generator: Generator | None = None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Euler on the probability-flow ODE: dx/dσ = (x − D)/σ."""
    for i, (sigma, sigma_next) in enumerate(_steps(sigmas)):
        denoised = denoise(x, sigma)
        x = x + (x - denoised) / sigma * (sigma_next - sigma)
        _report(callback, i, sigma, x, denoised)
    return x


@torch.no_grad()
def sample_euler_ancestral(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    generator: Generator | None = None,
    callback: Callback | None = None,
    eta: float = 1.0,
) -> torch.Tensor:
    """Euler down to σ_down, then fresh noise up to σ_next (η = 1 is diffusers' Euler a)."""
    if eta > 0:
        _require_generator(generator, "euler_a")
    for i, (sigma, sigma_next) in enumerate(_steps(sigmas)):
        denoised = denoise(x, sigma)
        sigma_down, sigma_up = _ancestral_split(sigma, sigma_next, eta)
        x = x + (x - denoised) / sigma * (sigma_down - sigma)
        if sigma_up > 0:
            x = x + _noise(x, generator) * sigma_up
        _report(callback, i, sigma, x, denoised)
    return x


@torch.no_grad()
def sample_ddim(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    generator: Generator | None = None,
    callback: Callback | None = None,
    eta: float = 0.0,
) -> torch.Tensor:
    """DDIM. In σ-space its update is exactly Euler ancestral with DDIM's η (η = 0: plain Euler)."""
    if eta > 0:
        _require_generator(generator, "ddim")
    return sample_euler_ancestral(denoise, x, sigmas, generator=generator, callback=callback, eta=eta)


@torch.no_grad()
def sample_heun(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    generator: Generator | None = None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Heun's 2nd-order method; the last step to σ = 0 is plain Euler (2n − 1 model calls)."""
    for i, (sigma, sigma_next) in enumerate(_steps(sigmas)):
        denoised = denoise(x, sigma)
        d = (x - denoised) / sigma
        x_euler = x + d * (sigma_next - sigma)
        if sigma_next == 0:
            x = x_euler
        else:
            d_next = (x_euler - denoise(x_euler, sigma_next)) / sigma_next
            x = x + (d + d_next) / 2 * (sigma_next - sigma)
        _report(callback, i, sigma, x, denoised)
    return x


# Adams–Bashforth weights on the newest-first derivative history, as in PNDM/PLMS.
_PLMS_WEIGHTS = ((3 / 2, -1 / 2), (23 / 12, -16 / 12, 5 / 12), (55 / 24, -59 / 24, 37 / 24, -9 / 24))


@torch.no_grad()
def sample_plms(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    generator: Generator | None = None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """PLMS as diffusers' PNDMScheduler(skip_prk_steps=True): a Heun first step, then linear multistep.

    Like the CompVis original, the history keeps the first step's initial derivative, not its
    corrector, so n ≥ 2 steps cost n + 1 model calls.
    """
    history: list[torch.Tensor] = []
    steps = _steps(sigmas)
    for i, (sigma, sigma_next) in enumerate(steps):
        denoised = denoise(x, sigma)
        d = (x - denoised) / sigma
        if not history and len(steps) > 1:
            x_euler = x + d * (sigma_next - sigma)
            step_d = (d + (x_euler - denoise(x_euler, sigma_next)) / sigma_next) / 2
        elif history:
            weights = _PLMS_WEIGHTS[min(len(history), 3) - 1]
            step_d = sum(w * e for w, e in zip(weights, [d, *reversed(history)], strict=True))
        else:
            step_d = d
        history = [*history[-2:], d]
        x = x + step_d * (sigma_next - sigma)
        _report(callback, i, sigma, x, denoised)
    return x


@torch.no_grad()
def sample_dpmpp_2m(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    generator: Generator | None = None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """DPM-Solver++(2M): 2nd-order multistep in λ = −log σ; first order on the first and last step."""
    old_denoised, h_last = None, None
    for i, (sigma, sigma_next) in enumerate(_steps(sigmas)):
        denoised = denoise(x, sigma)
        if sigma_next == 0:
            x = denoised
        else:
            h = math.log(sigma / sigma_next)
            d = (
                denoised
                if old_denoised is None
                else denoised + (denoised - old_denoised) * (h / (2 * h_last))
            )
            x = (sigma_next / sigma) * x - math.expm1(-h) * d
            h_last = h
        old_denoised = denoised
        _report(callback, i, sigma, x, denoised)
    return x


@torch.no_grad()
def sample_dpmpp_2m_sde(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    generator: Generator | None = None,
    callback: Callback | None = None,
    eta: float = 1.0,
) -> torch.Tensor:
    """DPM-Solver++(2M) SDE, midpoint form with Gaussian noise per step (diffusers' sde-dpmsolver++)."""
    if eta > 0:
        _require_generator(generator, "dpmpp_2m_sde")
    old_denoised, h_last = None, None
    for i, (sigma, sigma_next) in enumerate(_steps(sigmas)):
        denoised = denoise(x, sigma)
        if sigma_next == 0:
            x = denoised
        else:
            h = math.log(sigma / sigma_next)
            decay = -math.expm1(-h - eta * h)
            x = (sigma_next / sigma) * math.exp(-eta * h) * x + decay * denoised
            if old_denoised is not None:
                x = x + 0.5 * decay * (h / h_last) * (denoised - old_denoised)
            x = x + _noise(x, generator) * (sigma_next * math.sqrt(-math.expm1(-2 * eta * h)))
            h_last = h
        old_denoised = denoised
        _report(callback, i, sigma, x, denoised)
    return x


@torch.no_grad()
def sample_lcm(
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    generator: Generator | None = None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Latent Consistency Model sampling: jump to the estimate, re-noise it to σ_next with fresh noise.

    No noise after the last step (σ_next = 0), so one step is the estimate itself. The consistency
    model's boundary condition (c_skip, c_out) belongs to the denoiser: `denoisers.lcm_boundary`.
    """
    if bool((sigmas[1:] > 0).any()):
        _require_generator(generator, "lcm")
    for i, (sigma, sigma_next) in enumerate(_steps(sigmas)):
        denoised = denoise(x, sigma)
        x = denoised if sigma_next == 0 else denoised + _noise(denoised, generator) * sigma_next
        _report(callback, i, sigma, x, denoised)
    return x


SAMPLERS: dict[str, Callable[..., torch.Tensor]] = {
    "ddim": sample_ddim,
    "plms": sample_plms,
    "euler": sample_euler,
    "euler_a": sample_euler_ancestral,
    "heun": sample_heun,
    "dpmpp_2m": sample_dpmpp_2m,
    "dpmpp_2m_sde": sample_dpmpp_2m_sde,
    "lcm": sample_lcm,
}


def _sampler(name: str) -> Callable[..., torch.Tensor]:
    if name not in SAMPLERS:
        raise InputError(f"Unknown sampler {name!r}; expected one of {', '.join(SAMPLERS)}.")
    return SAMPLERS[name]


def sample(
    name: str,
    denoise: Denoise,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    generator: Generator | None = None,
    callback: Callback | None = None,
    eta: float = 0.0,
) -> torch.Tensor:
    """Run the sampler called `name`; `eta` only affects ddim (the others have a fixed η)."""
    opts = {"eta": eta} if name == "ddim" else {}
    return _sampler(name)(denoise, x, sigmas, generator=generator, callback=callback, **opts)


def model_calls(name: str, steps: int) -> int:
    """How many times `name` calls the denoiser for `steps` steps (for progress bars)."""
    _sampler(name)
    if steps <= 0:
        return 0
    if name == "heun":
        return 2 * steps - 1  # assumes the schedule ends at σ = 0, as `sampling_sigmas` makes it for heun
    if name == "plms" and steps > 1:
        return steps + 1
    return steps
