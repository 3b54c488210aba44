"""Samplers and schedules on their own: registry, call counts, determinism, accuracy, img2img tails."""

import math

import pytest
import torch

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.requests import SAMPLERS as REQUEST_SAMPLERS
from ldm_studio.engine.requests import SCHEDULES
from ldm_studio.engine.sampling.samplers import SAMPLERS, model_calls, sample
from ldm_studio.engine.sampling.schedules import (
    finish_latent,
    img2img_sigmas,
    initial_latent,
    karras_sigmas,
    linear_schedule,
    noised_latent,
    sampling_sigmas,
)

SCHEDULE = linear_schedule()
STOCHASTIC = ["euler_a", "dpmpp_2m_sde"]
DATA_STD = 0.5


def gaussian_denoiser(x, sigma):
    """The exact denoiser for data ~ N(0, DATA_STD²): a 'perfect model' with a known answer."""
    return x * DATA_STD**2 / (DATA_STD**2 + sigma**2)


def counting(denoise):
    calls = []

    def wrapped(x, sigma):
        calls.append(sigma)
        return denoise(x, sigma)

    return wrapped, calls


def test_registry_offers_exactly_the_samplers_a_request_can_name():
    assert set(SAMPLERS) == set(REQUEST_SAMPLERS)


def test_unknown_sampler_or_schedule_is_a_readable_error():
    with pytest.raises(InputError, match="sampler"):
        sample("dpm_fast", gaussian_denoiser, torch.zeros(1), torch.tensor([1.0, 0.0]))
    with pytest.raises(InputError, match="schedule"):
        sampling_sigmas(SCHEDULE, 10, "exponential")
    with pytest.raises(InputError, match="Steps"):
        sampling_sigmas(SCHEDULE, 0)


@pytest.mark.parametrize("name", REQUEST_SAMPLERS)
@pytest.mark.parametrize("kind", SCHEDULES)
@pytest.mark.parametrize("steps", [1, 2, 7])
def test_model_calls_counts_what_the_progress_bar_will_see(name, kind, steps):
    denoise, calls = counting(gaussian_denoiser)
    sigmas = sampling_sigmas(SCHEDULE, steps, kind, name)
    sample(name, denoise, torch.randn(1, 2, 3, 3), sigmas, generator=torch.Generator().manual_seed(0))
    assert len(calls) == model_calls(name, steps)


def test_heun_costs_about_two_calls_per_step_and_plms_one_extra():
    assert model_calls("heun", 20) == 39
    assert model_calls("plms", 20) == 21
    assert model_calls("euler", 20) == 20
    assert model_calls("dpmpp_2m", 0) == 0


@pytest.mark.parametrize("name", REQUEST_SAMPLERS)
def test_callback_reports_every_step_in_order(name):
    sigmas = sampling_sigmas(SCHEDULE, 5, "karras", name)
    seen = []
    out = sample(
        name,
        gaussian_denoiser,
        torch.randn(1, 1, 2, 2),
        sigmas,
        generator=torch.Generator().manual_seed(0),
        callback=lambda i, sigma, x, denoised: seen.append((i, sigma, x)),
    )
    assert [i for i, _, _ in seen] == list(range(5))
    assert [s for _, s, _ in seen] == pytest.approx(sigmas[:-1].tolist())
    assert torch.equal(seen[-1][2], out)


@pytest.mark.parametrize("name", [*STOCHASTIC, "ddim"])
def test_a_seed_gives_the_same_image_and_another_seed_a_different_one(name):
    sigmas = sampling_sigmas(SCHEDULE, 6, "normal", name)

    def run(seed):
        generator = torch.Generator().manual_seed(seed)
        x = initial_latent(torch.randn(1, 4, 4, 4, generator=generator), sigmas)
        return sample(name, gaussian_denoiser, x, sigmas, generator=generator, eta=1.0)

    torch.manual_seed(1)  # the global RNG must not matter
    first = run(42)
    torch.manual_seed(2)
    assert torch.equal(first, run(42))
    assert not torch.allclose(first, run(43))


@pytest.mark.parametrize("name", [*STOCHASTIC, "ddim"])
def test_stochastic_sampler_without_generator_refuses_before_any_model_call(name):
    sigmas = sampling_sigmas(SCHEDULE, 3, "normal", name)
    denoise, calls = counting(gaussian_denoiser)
    with pytest.raises(ValueError, match="Generator"):
        sample(name, denoise, torch.ones(1, 1, 2, 2), sigmas, eta=0.5)
    assert calls == []


def test_ddim_with_eta_zero_is_deterministic_euler():
    sigmas = sampling_sigmas(SCHEDULE, 8, "normal", "ddim")
    x = torch.randn(1, 2, 4, 4, generator=torch.Generator().manual_seed(0)) * 9
    ddim = sample("ddim", gaussian_denoiser, x, sigmas)
    euler = sample("euler", gaussian_denoiser, x, sigmas)
    torch.testing.assert_close(ddim, euler)


# LCM jumps to the denoiser's estimate each step: with this posterior-mean denoiser (not a consistency
# function) it shrinks the variance by design; test_few_step_samplers gives it the exact ODE map instead.
@pytest.mark.parametrize("name", [name for name in REQUEST_SAMPLERS if name != "lcm"])
def test_every_sampler_lands_on_the_data_scale(name):
    # The exact ODE carries noise·sqrt(σ0²+s²) to noise·s; a sampler that is wrong anywhere drifts far off.
    sigmas = sampling_sigmas(SCHEDULE, 50, "karras", name)
    noise = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    x = noise * math.sqrt(float(sigmas[0]) ** 2 + DATA_STD**2)
    out = sample(name, gaussian_denoiser, x, sigmas, generator=torch.Generator().manual_seed(1))
    assert out.std().item() == pytest.approx(DATA_STD * noise.std().item(), rel=0.12)


def test_higher_order_samplers_are_more_accurate_than_euler():
    sigmas = sampling_sigmas(SCHEDULE, 20, "karras", "euler")
    noise = torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    x = noise * math.sqrt(float(sigmas[0]) ** 2 + DATA_STD**2)
    exact = noise * DATA_STD

    def error(name):
        return (sample(name, gaussian_denoiser, x, sigmas) - exact).abs().max().item()

    assert error("heun") < error("euler") / 4
    assert error("dpmpp_2m") < error("euler") / 4
    assert error("plms") < error("euler") / 4


def test_normal_schedule_uses_diffusers_leading_timesteps():
    ddim = sampling_sigmas(SCHEDULE, 20, "normal", "ddim")
    torch.testing.assert_close(ddim[:-1], SCHEDULE.sigmas[torch.arange(951, 0, -50)])
    assert float(ddim[-1]) == pytest.approx(SCHEDULE.sigma_min)  # DDIM ends at ᾱ[0], not σ = 0
    dpm = sampling_sigmas(SCHEDULE, 10, "normal", "dpmpp_2m")
    torch.testing.assert_close(dpm[:-1], SCHEDULE.sigmas[torch.arange(901, 90, -90)])
    assert float(dpm[-1]) == 0.0
    assert float(sampling_sigmas(SCHEDULE, 20, "normal", "euler")[0]) == pytest.approx(11.028, abs=1e-3)


def test_karras_spans_the_models_sigma_range_then_zero():
    sigmas = sampling_sigmas(SCHEDULE, 12, "karras", "dpmpp_2m")
    assert float(sigmas[0]) == pytest.approx(14.6146, abs=1e-4)
    assert float(sigmas[-2]) == pytest.approx(0.029167, abs=1e-6)
    assert float(sigmas[-1]) == 0.0
    assert torch.all(sigmas[1:] < sigmas[:-1])
    assert karras_sigmas(3, 1.0, 1.0).tolist() == pytest.approx([1.0, 1.0, 1.0])


def test_sigma_and_t_convert_both_ways_including_fractional_t():
    assert SCHEDULE.sigma_min == pytest.approx(0.029167, abs=1e-6)
    assert SCHEDULE.sigma_max == pytest.approx(14.6146, abs=1e-4)
    t = torch.tensor([0.0, 1.0, 250.5, 951.0, 998.25, 999.0], dtype=torch.float64)
    torch.testing.assert_close(SCHEDULE.sigma_to_t(SCHEDULE.t_to_sigma(t)), t)
    assert float(SCHEDULE.sigma_to_t(SCHEDULE.sigmas[500])) == pytest.approx(500.0)
    assert float(SCHEDULE.sigma_to_t(1000.0)) == 999.0  # beyond σ_max: clamped, not extrapolated


def test_txt2img_starts_like_diffusers_and_finish_undoes_the_ddim_stop():
    sigmas = sampling_sigmas(SCHEDULE, 20, "normal", "ddim")
    noise = torch.ones(1, 1, 1, 1)
    assert initial_latent(noise, sigmas).item() == pytest.approx(math.sqrt(float(sigmas[0]) ** 2 + 1))
    x = torch.full((1, 1, 1, 1), 2.0)
    assert finish_latent(x, sigmas).item() == pytest.approx(2.0 / math.sqrt(SCHEDULE.sigma_min**2 + 1))
    assert finish_latent(x, sampling_sigmas(SCHEDULE, 20, "normal", "euler")) is x


@pytest.mark.parametrize("name", REQUEST_SAMPLERS)
def test_img2img_strength_zero_returns_the_input_untouched(name):
    sigmas = img2img_sigmas(sampling_sigmas(SCHEDULE, 20, "normal", name), 0.0)
    x0 = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(0))
    x = noised_latent(x0, torch.randn_like(x0), sigmas[0])
    denoise, calls = counting(gaussian_denoiser)
    out = finish_latent(sample(name, denoise, x, sigmas, generator=torch.Generator()), sigmas)
    assert calls == []
    assert torch.equal(out, x0)


@pytest.mark.parametrize("name", ["ddim", "dpmpp_2m", "heun"])
def test_img2img_strength_one_is_the_txt2img_schedule_and_partial_strength_its_tail(name):
    full = sampling_sigmas(SCHEDULE, 20, "normal", name)
    assert torch.equal(img2img_sigmas(full, 1.0), full)
    tail = img2img_sigmas(full, 0.75)
    assert len(tail) - 1 == 15
    assert torch.equal(tail, full[5:])
    with pytest.raises(InputError, match="strength"):
        img2img_sigmas(full, 1.5)
