"""Few-step sampling for distilled models (issue 24): the `trailing` schedule, the `lcm` sampler, CFG ≤ 1
without the unconditional pass, zero-terminal-SNR betas and CFG rescale, each against diffusers.

Scheduler-level parity drives diffusers' scheduler loop and ours with the same smooth ε/v "model" (see
test_sampling_parity); end to end, our pipeline and diffusers' StableDiffusionPipeline read one tiny
checkpoint file (see test_pipeline_parity).
"""

import dataclasses
import math

import pytest
import torch
from diffusers import EulerAncestralDiscreteScheduler, EulerDiscreteScheduler, LCMScheduler
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import rescale_noise_cfg
from diffusers.schedulers.scheduling_ddim import rescale_zero_terminal_snr as diffusers_rescale_zero_snr

from ldm_studio.bench.reference import SD_SCHEDULER
from ldm_studio.engine.errors import InputError
from ldm_studio.engine.metadata.a1111 import format_infotext, request_from_infotext
from ldm_studio.engine.metadata.comfyui import request_from_comfyui
from ldm_studio.engine.requests import GenerationRequest
from ldm_studio.engine.sampling.denoisers import Conditioning, guided, lcm_boundary, make_denoiser
from ldm_studio.engine.sampling.samplers import model_calls, sample
from ldm_studio.engine.sampling.schedules import (
    img2img_sigmas,
    initial_latent,
    lcm_timesteps,
    linear_schedule,
    noised_latent,
    rescale_zero_terminal_snr,
    sampling_sigmas,
    trailing_timesteps,
)
from tests.engine import diffusers_pipelines as ref
from tests.engine import test_pipeline_parity as parity
from tests.engine.test_sampling_parity import (
    PREDICTIONS,
    SCHEDULE,
    SHAPE,
    TOLERANCE,
    assert_close_trajectory,
    diffusers_run,
    make_scheduler,
    smooth_model,
    to_vp,
)

ZERO_SNR = linear_schedule(0.00085, 0.012, zero_terminal_snr=True)


def our_run(sampler, kind, prediction, steps, seed, *, schedule=SCHEDULE, eta=0.0, lcm_scaling=10.0):
    """Ours, as the pipeline runs it: sigmas → initial_latent → (LCM boundary) → sampler."""
    generator = torch.Generator().manual_seed(seed)
    sigmas = sampling_sigmas(schedule, steps, kind, sampler)
    x = initial_latent(torch.randn(SHAPE, generator=generator), sigmas, kind)
    model = make_denoiser(smooth_model, schedule, prediction)

    def denoise(x, sigma):
        return model(x, sigma, Conditioning(None))

    if sampler == "lcm":
        denoise = lcm_boundary(denoise, schedule, timestep_scaling=lcm_scaling)
    trajectory = []

    def record(i, sigma, x, denoised):
        trajectory.append((x, float(sigmas[i + 1])))

    x = sample(sampler, denoise, x, sigmas, generator=generator, callback=record, eta=eta)
    return x, trajectory


# ---- trailing --------------------------------------------------------------------------------------


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 6, 8, 16, 25, 48, 100])
def test_trailing_timesteps_and_sigmas_equal_diffusers(steps):
    scheduler = make_scheduler(EulerDiscreteScheduler, "epsilon", timestep_spacing="trailing")
    scheduler.set_timesteps(steps)
    assert trailing_timesteps(steps).tolist() == scheduler.timesteps.long().tolist()
    ours = sampling_sigmas(SCHEDULE, steps, "trailing", "euler")
    torch.testing.assert_close(ours.float(), scheduler.sigmas.float(), rtol=1e-5, atol=1e-6)
    assert float(ours[0]) == pytest.approx(SCHEDULE.sigma_max)  # first step at t = 999
    # Lin et al.'s definition, checked where it has no rounding tie.
    assert trailing_timesteps(4).tolist() == [999, 749, 499, 249]
    assert trailing_timesteps(3).tolist() == [999, 666, 332]


def test_trailing_starts_from_noise_times_sigma_max_as_diffusers_does():
    for cls in (EulerDiscreteScheduler, EulerAncestralDiscreteScheduler):
        scheduler = make_scheduler(cls, "epsilon", timestep_spacing="trailing")
        scheduler.set_timesteps(4)
        sigmas = sampling_sigmas(SCHEDULE, 4, "trailing", "euler")
        noise = torch.ones(1)
        assert float(initial_latent(noise, sigmas, "trailing")) == pytest.approx(
            float(scheduler.init_noise_sigma), rel=1e-6
        )
    assert float(initial_latent(noise, sigmas)) == pytest.approx(math.sqrt(float(sigmas[0]) ** 2 + 1))


TRAILING_CASES = [
    (sampler, cls, steps, *prediction)
    for sampler, cls in (("euler", EulerDiscreteScheduler), ("euler_a", EulerAncestralDiscreteScheduler))
    for steps in (1, 4, 8)
    for prediction in PREDICTIONS
]


@pytest.mark.parametrize("sampler,cls,steps,ours_pred,their_pred", TRAILING_CASES)
def test_euler_and_euler_a_on_trailing_spacing_match_diffusers(sampler, cls, steps, ours_pred, their_pred):
    scheduler = make_scheduler(cls, their_pred, timestep_spacing="trailing")
    theirs = diffusers_run(scheduler, steps, seed=21)
    final, ours = our_run(sampler, "trailing", ours_pred, steps, seed=21)
    assert_close_trajectory([x for x, _ in ours], theirs)
    assert (final - theirs[-1]).abs().max().item() <= TOLERANCE


@pytest.mark.parametrize("sampler", ["ddim", "plms", "heun", "dpmpp_2m", "dpmpp_2m_sde", "lcm"])
def test_trailing_works_with_every_other_sampler_and_ends_at_zero(sampler):
    sigmas = sampling_sigmas(SCHEDULE, 4, "trailing", sampler)
    assert float(sigmas[0]) == pytest.approx(SCHEDULE.sigma_max) and float(sigmas[-1]) == 0.0
    calls = []

    def denoise(x, sigma):
        calls.append(sigma)
        return x * 0.25 / (0.25 + sigma**2)

    x = initial_latent(
        torch.randn(1, 1, 4, 4, generator=torch.Generator().manual_seed(0)), sigmas, "trailing"
    )
    out = sample(sampler, denoise, x, sigmas, generator=torch.Generator().manual_seed(1))
    assert torch.isfinite(out).all() and len(calls) == model_calls(sampler, 4)


# ---- LCM -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 5, 6, 7, 8, 13, 50])
def test_lcm_timesteps_equal_lcm_scheduler(steps):
    scheduler = make_scheduler(LCMScheduler, "epsilon")
    scheduler.set_timesteps(steps)
    assert lcm_timesteps(steps).tolist() == scheduler.timesteps.tolist()
    ours = sampling_sigmas(SCHEDULE, steps, "normal", "lcm")
    assert float(ours[-1]) == 0.0
    torch.testing.assert_close(ours[:-1], SCHEDULE.sigmas[scheduler.timesteps])


def test_lcm_refuses_more_steps_than_its_distillation_grid():
    with pytest.raises(InputError, match="at most 50"):
        sampling_sigmas(SCHEDULE, 51, "normal", "lcm")


def test_lcm_boundary_scalings_equal_diffusers():
    scheduler = make_scheduler(LCMScheduler, "epsilon")
    x = torch.full((1, 1, 1, 1), 3.0, dtype=torch.float64)
    for t in (0, 19, 259, 999):
        c_skip, c_out = scheduler.get_scalings_for_boundary_condition_discrete(t)
        sigma = float(SCHEDULE.sigmas[t])
        got = lcm_boundary(lambda x, s: torch.full_like(x, 2.0), SCHEDULE)(x, sigma)
        expected = c_out * 2.0 + c_skip * 3.0 / math.sqrt(sigma**2 + 1)
        assert float(got) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("steps", [1, 2, 4, 8])
@pytest.mark.parametrize("ours_pred,their_pred", PREDICTIONS)
def test_lcm_matches_lcm_scheduler_with_the_same_generator(steps, ours_pred, their_pred):
    theirs = diffusers_run(make_scheduler(LCMScheduler, their_pred), steps, seed=8)
    final, ours = our_run("lcm", "normal", ours_pred, steps, seed=8)
    assert_close_trajectory(to_vp(ours), theirs)  # diffusers' LCM latents are variance-preserving
    assert (final - theirs[-1]).abs().max().item() <= TOLERANCE


def test_lcm_boundary_condition_is_applied_as_diffusers_applies_it():
    # With the released scaling (10) c_skip is below 1e-5 from t = 19 up: a small scaling makes the
    # boundary condition carry real weight, so a wrong x_t (σ-space instead of VP) or t would show.
    scheduler = make_scheduler(LCMScheduler, "epsilon", timestep_scaling=0.005)
    theirs = diffusers_run(scheduler, 4, seed=9)
    final, ours = our_run("lcm", "normal", "eps", 4, seed=9, lcm_scaling=0.005)
    assert_close_trajectory(to_vp(ours), theirs)
    _, without = our_run("lcm", "normal", "eps", 4, seed=9)
    assert (final - without[-1][0]).abs().max().item() > 100 * TOLERANCE


def test_lcm_draws_fresh_noise_between_steps_but_not_after_the_last():
    sigmas = sampling_sigmas(SCHEDULE, 3, "normal", "lcm")
    seen = []

    def record(i, sigma, x, denoised):
        seen.append((x, denoised))

    x = torch.zeros(1, 1, 4, 4)
    generator = torch.Generator().manual_seed(5)
    sample("lcm", lambda x, s: torch.full_like(x, 0.5), x, sigmas, generator=generator, callback=record)
    expected = torch.Generator().manual_seed(5)
    for (x, denoised), sigma_next in zip(seen[:-1], sigmas[1:-1], strict=True):
        torch.testing.assert_close(x, denoised + torch.randn(x.shape, generator=expected) * float(sigma_next))
    assert torch.equal(seen[-1][0], seen[-1][1])
    with pytest.raises(ValueError, match="Generator"):
        sample("lcm", lambda x, s: x, x, sigmas)
    # One step needs no noise, hence no generator.
    one = sampling_sigmas(SCHEDULE, 1, "normal", "lcm")
    assert torch.equal(sample("lcm", lambda x, s: x * 0 + 1, x, one), torch.ones_like(x))


def test_lcm_with_the_exact_consistency_function_lands_on_the_data_scale():
    # For data ~ N(0, s²) the probability-flow ODE maps x at σ to x·s/sqrt(s² + σ²): a perfect LCM.
    data_std = 0.5
    sigmas = sampling_sigmas(SCHEDULE, 4, "normal", "lcm")
    noise = torch.randn(1, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    x = noise * math.sqrt(float(sigmas[0]) ** 2 + data_std**2)
    out = sample(
        "lcm",
        lambda x, s: x * data_std / math.sqrt(data_std**2 + s**2),
        x,
        sigmas,
        generator=torch.Generator(),
    )
    assert out.std().item() == pytest.approx(data_std, rel=0.05)


@pytest.mark.parametrize(
    "sampler,kind,cls,extra",
    [
        ("lcm", "normal", LCMScheduler, {}),
        ("euler", "trailing", EulerDiscreteScheduler, {"timestep_spacing": "trailing"}),
        ("euler_a", "trailing", EulerAncestralDiscreteScheduler, {"timestep_spacing": "trailing"}),
    ],
)
def test_img2img_with_few_step_samplers_matches_diffusers_img2img(sampler, kind, cls, extra):
    # StableDiffusionImg2ImgPipeline: the last int(n·strength) of the n timesteps, x0 noised to the first.
    x0 = torch.linspace(-1, 1, 256).reshape(SHAPE)
    theirs = diffusers_run(make_scheduler(cls, "epsilon", **extra), 8, seed=6, x0=x0, strength=0.5)
    generator = torch.Generator().manual_seed(6)
    sigmas = img2img_sigmas(sampling_sigmas(SCHEDULE, 8, kind, sampler), 0.5)
    x = noised_latent(x0, torch.randn(SHAPE, generator=generator), sigmas[0])
    model = make_denoiser(smooth_model, SCHEDULE, "eps")

    def denoise(x, sigma):
        return model(x, sigma, Conditioning(None))

    if sampler == "lcm":
        denoise = lcm_boundary(denoise, SCHEDULE)
    ours = []
    sample(
        sampler,
        denoise,
        x,
        sigmas,
        generator=generator,
        callback=lambda i, sigma, x, d: ours.append((x, float(sigmas[i + 1]))),
    )
    assert len(ours) == 4
    assert_close_trajectory(to_vp(ours) if sampler == "lcm" else [x for x, _ in ours], theirs)


# ---- CFG ≤ 1 ----------------------------------------------------------------------------------------


class RecordingUNet:
    def __init__(self):
        self.batches = []

    def __call__(self, x, t, context=None, y=None):
        self.batches.append(x.shape[0])
        # The prompt scales the output as well as shifting it, so guidance changes its spread.
        c = context.mean(dim=(1, 2)).reshape(-1, 1, 1, 1)
        return (0.1 + 0.3 * c) * x + c * torch.cos(t / 300).reshape(-1, 1, 1, 1)


@pytest.mark.parametrize("scale", [1.0, 0.5, 0.0])
def test_cfg_at_most_one_calls_the_unet_on_the_conditional_batch_only(scale):
    unet = RecordingUNet()
    denoiser = make_denoiser(unet, SCHEDULE, "eps")
    cond, uncond = Conditioning(torch.full((2, 3, 4), 1.0)), Conditioning(torch.full((2, 3, 4), -1.0))
    x = torch.randn(2, 4, 3, 3, generator=torch.Generator().manual_seed(0))
    out = guided(denoiser, cond, uncond, scale)(x, 3.0)
    assert unet.batches == [2]  # B, not 2B
    # Equal to guidance at scale 1 with both passes computed.
    from_cond, from_uncond = denoiser(x, 3.0, cond), denoiser(x, 3.0, uncond)
    torch.testing.assert_close(out, from_uncond + 1.0 * (from_cond - from_uncond), rtol=0, atol=1e-6)
    assert guided(denoiser, cond, uncond, 1.5)(x, 3.0).shape == x.shape and unet.batches[-1] == 4


# ---- zero terminal SNR ------------------------------------------------------------------------------


def test_zero_terminal_snr_betas_equal_diffusers_and_end_at_alpha_bar_zero():
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
    ours = rescale_zero_terminal_snr(betas)
    torch.testing.assert_close(ours, diffusers_rescale_zero_snr(betas.clone()), rtol=0, atol=1e-15)
    assert float(torch.cumprod(1 - ours, 0)[-1]) == 0.0
    scheduler = make_scheduler(EulerDiscreteScheduler, "v_prediction", rescale_betas_zero_snr=True)
    torch.testing.assert_close(
        ZERO_SNR.alphas_cumprod.float(), scheduler.alphas_cumprod, rtol=1e-5, atol=1e-7
    )
    assert float(ZERO_SNR.alphas_cumprod[-1]) == 2.0**-24  # diffusers' finite stand-in for 0
    assert ZERO_SNR.sigma_max == pytest.approx(4096.0, rel=1e-6)
    assert ZERO_SNR.sigma_min == pytest.approx(SCHEDULE.sigma_min, rel=1e-9)  # the first ᾱ kept
    assert torch.equal(linear_schedule().alphas_cumprod, SCHEDULE.alphas_cumprod)  # off by default


@pytest.mark.parametrize(
    "sampler,cls", [("euler", EulerDiscreteScheduler), ("euler_a", EulerAncestralDiscreteScheduler)]
)
def test_zero_snr_v_model_on_trailing_spacing_matches_diffusers(sampler, cls):
    scheduler = make_scheduler(cls, "v_prediction", timestep_spacing="trailing", rescale_betas_zero_snr=True)
    theirs = diffusers_run(scheduler, 4, seed=13)
    final, ours = our_run(sampler, "trailing", "v", 4, seed=13, schedule=ZERO_SNR)
    assert float(ours[0][1]) < 20  # past the first step: the σ ≈ 4096 start has been left
    # Both sides step in float32 from |x| ≈ 4096·|noise| ≈ 12000, whose ulp is ~1e-3: that much of the
    # first step's result is rounding; it shrinks with every step after.
    start_ulp = 4096 * 4 * torch.finfo(torch.float32).eps
    for step, ((a, _), b) in enumerate(zip(ours, theirs, strict=True)):
        err = (a - b).abs().max().item()
        assert err <= 2 * start_ulp, f"step {step}: max |ours − diffusers| = {err:.2e}"
    assert (final - theirs[-1]).abs().max().item() <= 2e-4


# ---- CFG rescale -----------------------------------------------------------------------------------


def _outputs_and_reference(prediction, phi):
    """Our guided estimate and diffusers' rescale_noise_cfg applied to the same UNet outputs."""
    unet = RecordingUNet()
    denoiser = make_denoiser(unet, SCHEDULE, prediction)
    cond, uncond = Conditioning(torch.full((2, 3, 4), 0.7)), Conditioning(torch.full((2, 3, 4), -0.4))
    x = torch.randn(2, 4, 5, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 2
    sigma, scale = 2.5, 7.5
    ours = guided(denoiser, cond, uncond, scale, rescale=phi, prediction=prediction)(x, sigma)
    t = SCHEDULE.sigma_to_t(sigma).float().expand(2)
    c_in = 1 / math.sqrt(sigma**2 + 1)
    out_cond = unet(x * c_in, t, context=cond.context)
    out_uncond = unet(x * c_in, t, context=uncond.context)
    out = rescale_noise_cfg(out_uncond + scale * (out_cond - out_uncond), out_cond, guidance_rescale=phi)
    theirs = {"eps": x - sigma * out, "v": x * c_in**2 - sigma * c_in * out, "x0": out}[prediction]
    return ours, theirs


@pytest.mark.parametrize("prediction", ["eps", "v", "x0"])
def test_cfg_rescale_is_diffusers_rescale_noise_cfg_on_the_unets_own_output(prediction):
    ours, theirs = _outputs_and_reference(prediction, 0.7)
    torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-9)
    unrescaled, _ = _outputs_and_reference(prediction, 0.0)
    assert (ours - unrescaled).abs().max() > 1e-3  # it does something


def test_cfg_rescale_zero_is_bit_identical_to_plain_guidance_and_out_of_range_is_refused():
    unet = RecordingUNet()
    denoiser = make_denoiser(unet, SCHEDULE, "eps")
    cond, uncond = Conditioning(torch.ones(1, 3, 4)), Conditioning(-torch.ones(1, 3, 4))
    x = torch.randn(1, 4, 3, 3, generator=torch.Generator().manual_seed(0))
    plain = guided(denoiser, cond, uncond, 5.0)(x, 1.0)
    assert torch.equal(guided(denoiser, cond, uncond, 5.0, rescale=0.0)(x, 1.0), plain)
    for phi in (-0.1, 1.5):
        with pytest.raises(InputError, match="CFG rescale"):
            guided(denoiser, cond, uncond, 5.0, rescale=phi)


# ---- infotext ---------------------------------------------------------------------------------------


def test_infotext_names_lcm_sgm_uniform_and_cfg_rescale_and_reads_them_back():
    request = GenerationRequest(
        prompt="a cat", sampler="lcm", schedule="trailing", cfg_scale=1.5, cfg_rescale=0.7
    )
    text = format_infotext(request, seed=3)
    assert "Sampler: LCM, Schedule type: SGM Uniform, CFG scale: 1.5, CFG Rescale: 0.7," in text
    back = request_from_infotext(text)
    assert (back.sampler, back.schedule, back.cfg_rescale) == ("lcm", "trailing", 0.7)
    assert "CFG Rescale" not in format_infotext(GenerationRequest(), seed=1)


@pytest.mark.parametrize(
    "params,expected",
    [
        ("CFG Rescale phi: 0.6", 0.6),  # sd-webui-neutral-prompt, older CFG Rescale extension
        ("CFG Rescale φ: 0.5", 0.5),
        ("Rescale CFG: 0.4", 0.4),  # Forge's built-in
        ("CFG Rescale: 0.3, Rescale CFG: 0.9", 0.3),
        ("CFG Rescale: 7", 0.0),  # out of range: ignored, not a request that fails later
    ],
)
def test_cfg_rescale_is_read_under_the_names_other_tools_write(params, expected):
    text = f"a dog\nSteps: 4, Sampler: Euler a, Schedule type: SGM Uniform, CFG scale: 1, Seed: 2, {params}"
    back = request_from_infotext(text)
    assert back.cfg_rescale == expected and back.schedule == "trailing" and back.sampler == "euler_a"


def test_comfyui_lcm_sampler_and_sgm_uniform_scheduler_are_read():
    graph = (
        '{"3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 4, "cfg": 1.0, '
        '"sampler_name": "lcm", "scheduler": "sgm_uniform"}}}'
    )
    back = request_from_comfyui(graph)
    assert (back.sampler, back.schedule) == ("lcm", "trailing")


# ---- end to end: our pipeline against StableDiffusionPipeline on one tiny checkpoint ------------------


@pytest.fixture(scope="module")
def families(tmp_path_factory):
    folder = tmp_path_factory.mktemp("few_step")
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = parity.Family(folder, name)
        return cache[name]

    return get


def _sd_scheduler(cls, prediction="eps", **extra):
    config = {**SD_SCHEDULER, **extra}
    if prediction == "v":
        config["prediction_type"] = "v_prediction"
    return cls.from_config(config)


@pytest.mark.parametrize("family_name,prediction", [("sd1", "eps"), ("sd2-v", "v")])
def test_cfg_rescale_matches_stable_diffusion_pipeline_guidance_rescale(
    families, monkeypatch, family_name, prediction
):
    family = families(family_name)
    _, ours = parity.run_ours(family.ours, parity._request(sampler="euler", cfg_rescale=0.7), monkeypatch)
    pipe = ref.txt2img_pipeline(family.components, _sd_scheduler(EulerDiscreteScheduler, prediction))
    kwargs = parity._reference_kwargs(height=64, width=64)
    theirs = ref.run_reference(pipe, parity.SEED, guidance_rescale=0.7, **kwargs)
    parity.assert_close(ours, theirs)
    plain = ref.run_reference(pipe, parity.SEED, **kwargs)
    assert float((theirs - plain).abs().max()) > 10 * parity.TOLERANCE  # φ visibly changes the image


def test_lcm_matches_stable_diffusion_pipeline_with_lcm_scheduler(families, monkeypatch):
    family = families("sd1")
    request = parity._request(sampler="lcm", steps=4, cfg_scale=1.5)
    _, ours = parity.run_ours(family.ours, request, monkeypatch)
    pipe = ref.txt2img_pipeline(family.components, _sd_scheduler(LCMScheduler))
    theirs = ref.run_reference(
        pipe,
        parity.SEED,
        **parity._reference_kwargs(height=64, width=64, num_inference_steps=4, guidance_scale=1.5),
    )
    parity.assert_close(ours, theirs)


@pytest.mark.parametrize(
    "sampler,cls", [("euler", EulerDiscreteScheduler), ("euler_a", EulerAncestralDiscreteScheduler)]
)
def test_trailing_at_cfg_one_matches_stable_diffusion_pipeline(families, monkeypatch, sampler, cls):
    family = families("sd1")
    calls = []
    unet_forward = family.ours.unet.forward

    def counted(x, *args, **kwargs):
        calls.append(x.shape[0])
        return unet_forward(x, *args, **kwargs)

    monkeypatch.setattr(family.ours.unet, "forward", counted)
    request = parity._request(sampler=sampler, schedule="trailing", steps=2, cfg_scale=1.0)
    _, ours = parity.run_ours(family.ours, request, monkeypatch)
    assert calls == [1, 1]  # no unconditional half
    pipe = ref.txt2img_pipeline(family.components, _sd_scheduler(cls, timestep_spacing="trailing"))
    theirs = ref.run_reference(
        pipe,
        parity.SEED,
        **parity._reference_kwargs(height=64, width=64, num_inference_steps=2, guidance_scale=1.0),
    )
    parity.assert_close(ours, theirs)


def test_a_zero_terminal_snr_v_model_matches_the_recipe_in_stable_diffusion_pipeline(families, monkeypatch):
    # Lin et al.'s recipe: zero-SNR betas, trailing spacing, CFG rescale 0.7, on a v model. Our family
    # flag (set from a checkpoint's `ztsnr` key) selects the betas.
    family = families("sd2-v")
    monkeypatch.setattr(
        family.ours, "config", dataclasses.replace(family.ours.config, zero_terminal_snr=True)
    )
    request = parity._request(sampler="euler", schedule="trailing", cfg_rescale=0.7)
    _, ours = parity.run_ours(family.ours, request, monkeypatch)
    scheduler = _sd_scheduler(
        EulerDiscreteScheduler, "v", timestep_spacing="trailing", rescale_betas_zero_snr=True
    )
    pipe = ref.txt2img_pipeline(family.components, scheduler)
    kwargs = parity._reference_kwargs(height=64, width=64)
    theirs = ref.run_reference(pipe, parity.SEED, guidance_rescale=0.7, **kwargs)
    parity.assert_close(ours, theirs)
    ordinary = ref.txt2img_pipeline(
        family.components, _sd_scheduler(EulerDiscreteScheduler, "v", timestep_spacing="trailing")
    )
    other = ref.run_reference(ordinary, parity.SEED, guidance_rescale=0.7, **kwargs)
    assert float((theirs - other).abs().max()) > 10 * parity.TOLERANCE  # the betas matter
