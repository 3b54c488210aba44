"""Our schedules + samplers + denoiser reproduce diffusers' SD schedulers on the same model.

Both sides drive one small deterministic ε/v "model" (a smooth nonlinear function of x and t, so a
wrong t, a wrong input scale or a wrong update shows up). The reference runs diffusers' scheduler loop
as StableDiffusionPipeline does (init_noise_sigma, scale_model_input, step with the CPU generator);
ours runs sampling_sigmas → initial_latent → sampler → finish_latent with the same generator.
"""

import inspect

import pytest
import torch
from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
    PNDMScheduler,
)

from ldm_studio.bench.reference import SD_SCHEDULER
from ldm_studio.engine.sampling.denoisers import Conditioning, make_denoiser
from ldm_studio.engine.sampling.samplers import sample
from ldm_studio.engine.sampling.schedules import (
    finish_latent,
    img2img_sigmas,
    initial_latent,
    linear_schedule,
    noised_latent,
    sampling_sigmas,
)

SHAPE = (1, 4, 8, 8)
STEPS = 10
TOLERANCE = 1e-4

SD_CONFIG = SD_SCHEDULER  # Stable Diffusion's scheduler config, spacing made explicit
SCHEDULE = linear_schedule(0.00085, 0.012)


def smooth_model(x, t, context=None, y=None):
    """A fixed nonlinear ε (or v) predictor; mixes channels and depends smoothly on t."""
    weights = torch.linspace(-0.6, 0.6, 16).reshape(4, 4)
    t = torch.as_tensor(t, dtype=torch.float32).reshape(-1, 1, 1, 1)
    mixed = torch.einsum("oc,bchw->bohw", weights, x)
    return 0.8 * torch.tanh(mixed + torch.sin(t / 97)) + 0.3 * x * torch.cos(t / 211)


def diffusers_run(scheduler, steps, seed, *, eta=None, x0=None, strength=1.0):
    """StableDiffusion(Img2Img)Pipeline's loop; returns the latent after every scheduler.step."""
    generator = torch.Generator().manual_seed(seed)
    scheduler.set_timesteps(steps)
    timesteps = scheduler.timesteps
    noise = torch.randn(SHAPE, generator=generator)
    if x0 is None:
        latents = noise * scheduler.init_noise_sigma
    else:
        t_start = steps - min(int(steps * strength), steps)
        timesteps = timesteps[t_start * scheduler.order :]
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(t_start * scheduler.order)
        latents = scheduler.add_noise(x0, noise, timesteps[:1])
    accepted = inspect.signature(scheduler.step).parameters
    extra = {"generator": generator} if "generator" in accepted else {}
    if "eta" in accepted and eta is not None:
        extra["eta"] = eta
    trajectory = []
    for t in timesteps:
        out = smooth_model(scheduler.scale_model_input(latents, t), t)
        latents = scheduler.step(out, t, latents, **extra).prev_sample
        trajectory.append(latents)
    return trajectory


def our_run(
    sampler,
    kind,
    prediction,
    steps,
    seed,
    *,
    eta=0.0,
    quantize_t=False,
    x0=None,
    strength=1.0,
    unet=smooth_model,
):
    """Ours; returns the finished latent and the trajectory in diffusers' scale (VP when `vp`)."""
    generator = torch.Generator().manual_seed(seed)
    sigmas = sampling_sigmas(SCHEDULE, steps, kind, sampler)
    noise = torch.randn(SHAPE, generator=generator)
    if x0 is None:
        x = initial_latent(noise, sigmas)
    else:
        sigmas = img2img_sigmas(sigmas, strength)
        x = noised_latent(x0, noise, sigmas[0])
    model = make_denoiser(unet, SCHEDULE, prediction, quantize_t=quantize_t)
    trajectory = []

    def record(i, sigma, x, denoised):
        trajectory.append((x, float(sigmas[i + 1])))

    x = sample(
        sampler,
        lambda x, s: model(x, s, Conditioning(None)),
        x,
        sigmas,
        generator=generator,
        callback=record,
        eta=eta,
    )
    return finish_latent(x, sigmas), trajectory


def to_vp(trajectory):
    """σ-space states → diffusers' variance-preserving latents (DDIM, PNDM, DPM-Solver)."""
    return [x / (sigma**2 + 1) ** 0.5 for x, sigma in trajectory]


def assert_close_trajectory(ours, theirs):
    assert len(ours) == len(theirs)
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        err = (a - b).abs().max().item()
        assert err <= TOLERANCE, f"step {step}: max |ours − diffusers| = {err:.2e}"


PREDICTIONS = [("eps", "epsilon"), ("v", "v_prediction")]


def make_scheduler(cls, prediction, **extra):
    return cls.from_config({**SD_CONFIG, "prediction_type": prediction, **extra})


# (our sampler, diffusers scheduler, extra config, which diffusers states are whole steps, VP space?)
def _every(trajectory):
    return trajectory


def _heun_whole_steps(trajectory):
    return trajectory[1::2] + trajectory[-1:]  # odd entries end a Heun step; the last is Euler


def _plms_whole_steps(trajectory):
    return trajectory[1:]  # entry 0 is the Euler predictor of the first (Heun) step


CASES = {
    "ddim": (DDIMScheduler, {}, _every, True),
    "plms": (PNDMScheduler, {}, _plms_whole_steps, True),
    "euler": (EulerDiscreteScheduler, {}, _every, False),
    "euler_a": (EulerAncestralDiscreteScheduler, {}, _every, False),
    "heun": (HeunDiscreteScheduler, {}, _heun_whole_steps, False),
    "dpmpp_2m": (DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++"}, _every, True),
    "dpmpp_2m_sde": (DPMSolverMultistepScheduler, {"algorithm_type": "sde-dpmsolver++"}, _every, True),
}


# diffusers' PNDM averages raw v outputs from different steps before converting them to ε, which the
# original (Stability's PLMS: ε per evaluation, then combine) does not; plms + v is tested below.
NORMAL_CASES = [(s, *p) for s in CASES for p in PREDICTIONS if (s, p[0]) != ("plms", "v")]


@pytest.mark.parametrize("sampler,ours_pred,their_pred", NORMAL_CASES)
def test_normal_schedule_matches_diffusers(sampler, ours_pred, their_pred):
    cls, extra, whole_steps, vp = CASES[sampler]
    theirs = whole_steps(diffusers_run(make_scheduler(cls, their_pred, **extra), STEPS, seed=3))
    final, ours = our_run(sampler, "normal", ours_pred, STEPS, seed=3)
    assert_close_trajectory(to_vp(ours) if vp else [x for x, _ in ours], theirs)
    assert (final - theirs[-1]).abs().max().item() <= TOLERANCE


def v_model_equivalent_to_smooth_eps(x, t, context=None, y=None):
    """The v-predictor whose denoised estimate equals smooth_model's as an ε-predictor."""
    sigma = SCHEDULE.t_to_sigma(t).float().reshape(-1, 1, 1, 1)
    c = 1 / (sigma**2 + 1).sqrt()
    return (smooth_model(x, t) - sigma * c * x) / c


def test_plms_with_a_v_model_equals_diffusers_plms_with_the_equivalent_eps_model():
    theirs = _plms_whole_steps(diffusers_run(make_scheduler(PNDMScheduler, "epsilon"), STEPS, seed=4))
    final, ours = our_run("plms", "normal", "v", STEPS, seed=4, unet=v_model_equivalent_to_smooth_eps)
    assert_close_trajectory(to_vp(ours), theirs)
    assert (final - theirs[-1]).abs().max().item() <= TOLERANCE


@pytest.mark.parametrize("ours_pred,their_pred", PREDICTIONS)
def test_stochastic_ddim_matches_diffusers_with_the_same_generator(ours_pred, their_pred):
    theirs = diffusers_run(make_scheduler(DDIMScheduler, their_pred), STEPS, seed=5, eta=0.7)
    final, ours = our_run("ddim", "normal", ours_pred, STEPS, seed=5, eta=0.7)
    assert_close_trajectory(to_vp(ours), theirs)
    assert (final - theirs[-1]).abs().max().item() <= TOLERANCE


@pytest.mark.parametrize("ours_pred,their_pred", PREDICTIONS)
@pytest.mark.parametrize("sampler", ["euler", "heun", "dpmpp_2m", "dpmpp_2m_sde"])
def test_karras_schedule_matches_diffusers(sampler, ours_pred, their_pred):
    cls, extra, whole_steps, vp = CASES[sampler]
    scheduler = make_scheduler(cls, their_pred, use_karras_sigmas=True, **extra)
    # Euler/Heun take Karras' range from the inference timesteps unless told the model's σ range.
    scheduler.register_to_config(sigma_min=SCHEDULE.sigma_min, sigma_max=SCHEDULE.sigma_max)
    theirs = whole_steps(diffusers_run(scheduler, STEPS, seed=11))
    # diffusers' DPM-Solver rounds Karras timesteps to integers before calling the UNet.
    quantize = cls is DPMSolverMultistepScheduler
    final, ours = our_run(sampler, "karras", ours_pred, STEPS, seed=11, quantize_t=quantize)
    assert_close_trajectory(to_vp(ours) if vp else [x for x, _ in ours], theirs)
    assert (final - theirs[-1]).abs().max().item() <= TOLERANCE


@pytest.mark.parametrize("sampler", ["ddim", "euler", "dpmpp_2m"])
def test_img2img_matches_diffusers_img2img(sampler):
    cls, extra, whole_steps, vp = CASES[sampler]
    x0 = torch.linspace(-1, 1, 256).reshape(SHAPE)
    theirs = diffusers_run(make_scheduler(cls, "epsilon", **extra), STEPS, seed=2, x0=x0, strength=0.55)
    final, ours = our_run(sampler, "normal", "eps", STEPS, seed=2, x0=x0, strength=0.55)
    assert len(ours) == int(STEPS * 0.55)
    assert_close_trajectory(to_vp(ours) if vp else [x for x, _ in ours], whole_steps(theirs))
    assert (final - theirs[-1]).abs().max().item() <= TOLERANCE


@pytest.mark.parametrize(
    "sampler,cls,extra",
    [
        ("euler", EulerDiscreteScheduler, {}),
        ("dpmpp_2m", DPMSolverMultistepScheduler, {}),
        ("euler", EulerDiscreteScheduler, {"use_karras_sigmas": True}),
        ("dpmpp_2m", DPMSolverMultistepScheduler, {"use_karras_sigmas": True}),
    ],
)
def test_sigma_lists_equal_diffusers(sampler, cls, extra):
    scheduler = make_scheduler(cls, "epsilon", **extra)
    scheduler.register_to_config(sigma_min=SCHEDULE.sigma_min, sigma_max=SCHEDULE.sigma_max)
    scheduler.set_timesteps(20)
    kind = "karras" if extra else "normal"
    ours = sampling_sigmas(SCHEDULE, 20, kind, sampler).float()
    torch.testing.assert_close(ours, scheduler.sigmas.float(), rtol=1e-5, atol=1e-6)
