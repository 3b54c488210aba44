"""Denoisers: ε/v → clean estimate, what the UNet is fed, batched CFG, inpaint blending."""

import math

import pytest
import torch

from ldm_studio.engine.sampling.denoisers import Conditioning, blend_inpaint, guided, make_denoiser
from ldm_studio.engine.sampling.samplers import sample
from ldm_studio.engine.sampling.schedules import linear_schedule, noised_latent, sampling_sigmas

SCHEDULE = linear_schedule()


class RecordingUNet:
    """unet(x, t, context, y) that records its inputs and returns `respond(x, t, context)`."""

    def __init__(self, respond):
        self.respond = respond
        self.calls = []

    def __call__(self, x, t, context=None, y=None):
        self.calls.append({"x": x, "t": t, "context": context, "y": y})
        return self.respond(x, t, context)


def test_a_perfect_eps_v_or_x0_model_recovers_the_clean_latent():
    x0 = torch.randn(2, 4, 3, 3, generator=torch.Generator().manual_seed(0))
    noise = torch.randn(2, 4, 3, 3, generator=torch.Generator().manual_seed(1))
    sigma = 3.7
    alpha, sigma_vp = 1 / math.sqrt(sigma**2 + 1), sigma / math.sqrt(sigma**2 + 1)
    x = x0 + sigma * noise
    eps_model = make_denoiser(lambda x, t, **_: noise, SCHEDULE, "eps")
    v_model = make_denoiser(lambda x, t, **_: alpha * noise - sigma_vp * x0, SCHEDULE, "v")
    torch.testing.assert_close(eps_model(x, sigma, Conditioning(None)), x0)
    torch.testing.assert_close(v_model(x, sigma, Conditioning(None)), x0)
    x0_model = make_denoiser(lambda x, t, **_: x0, SCHEDULE, "x0")
    torch.testing.assert_close(x0_model(x, sigma, Conditioning(None)), x0)
    with pytest.raises(ValueError, match="'eps', 'v', 'x0'"):
        make_denoiser(lambda x, t, **_: x0, SCHEDULE, "sample")


def test_unet_sees_the_variance_preserving_input_and_the_timestep_of_sigma():
    unet = RecordingUNet(lambda x, t, c: torch.zeros_like(x))
    denoise = make_denoiser(unet, SCHEDULE, "eps")
    x = torch.full((3, 4, 2, 2), 5.0)
    sigma = float(SCHEDULE.sigmas[951])
    denoise(x, sigma, Conditioning(None))
    (call,) = unet.calls
    torch.testing.assert_close(call["x"], x / math.sqrt(sigma**2 + 1))
    assert call["t"].dtype == torch.float32 and call["t"].shape == (3,)
    torch.testing.assert_close(call["t"], torch.full((3,), 951.0))


def test_fractional_t_by_default_and_rounded_when_asked():
    sigma = float(SCHEDULE.t_to_sigma(400.4))
    for quantize, expected in [(False, 400.4), (True, 400.0)]:
        unet = RecordingUNet(lambda x, t, c: torch.zeros_like(x))
        make_denoiser(unet, SCHEDULE, "eps", quantize_t=quantize)(
            torch.ones(1, 1, 1, 1), sigma, Conditioning(None)
        )
        assert unet.calls[0]["t"].item() == pytest.approx(expected, abs=1e-4)


def test_extra_channels_go_after_the_scaled_latent_and_labels_reach_the_unet():
    unet = RecordingUNet(lambda x, t, c: torch.zeros_like(x[:, :4]))
    cond = Conditioning(torch.ones(1, 7, 8), concat=torch.full((1, 5, 2, 2), 9.0), y=torch.tensor([20]))
    out = make_denoiser(unet, SCHEDULE, "eps")(torch.full((1, 4, 2, 2), 2.0), 1.0, cond)
    model_in = unet.calls[0]["x"]
    assert model_in.shape == (1, 9, 2, 2) and out.shape == (1, 4, 2, 2)
    torch.testing.assert_close(model_in[:, :4], torch.full((1, 4, 2, 2), 2.0 / math.sqrt(2)))
    assert torch.equal(model_in[:, 4:], cond.concat)
    assert unet.calls[0]["y"] is cond.y and unet.calls[0]["context"] is cond.context


def context_dependent_unet():
    # The "prompt" is a per-sample offset carried by the context tokens.
    return RecordingUNet(lambda x, t, c: 0.1 * x + c.mean(dim=(1, 2)).reshape(-1, 1, 1, 1))


def test_cfg_runs_uncond_and_cond_in_one_batched_call_and_mixes_them():
    unet = context_dependent_unet()
    denoiser = make_denoiser(unet, SCHEDULE, "eps")
    cond, uncond = Conditioning(torch.full((2, 3, 4), 1.0)), Conditioning(torch.full((2, 3, 4), -1.0))
    x = torch.randn(2, 4, 3, 3, generator=torch.Generator().manual_seed(0))
    out = guided(denoiser, cond, uncond, 7.5)(x, 2.0)
    assert len(unet.calls) == 1
    assert unet.calls[0]["x"].shape[0] == 4
    from_cond, from_uncond = denoiser(x, 2.0, cond), denoiser(x, 2.0, uncond)
    torch.testing.assert_close(out, from_uncond + 7.5 * (from_cond - from_uncond))


def test_cfg_scale_one_skips_the_uncond_half():
    unet = context_dependent_unet()
    denoiser = make_denoiser(unet, SCHEDULE, "eps")
    cond, uncond = Conditioning(torch.full((1, 3, 4), 1.0)), Conditioning(torch.full((1, 3, 4), -1.0))
    x = torch.ones(1, 4, 2, 2)
    out = guided(denoiser, cond, uncond, 1.0)(x, 2.0)
    assert len(unet.calls) == 1 and unet.calls[0]["x"].shape[0] == 1
    torch.testing.assert_close(out, denoiser(x, 2.0, cond))


def test_cfg_batches_the_concat_channels_too():
    unet = RecordingUNet(lambda x, t, c: x[:, :4])
    concat = torch.zeros(1, 5, 2, 2)
    cond = Conditioning(torch.ones(1, 2, 3), concat=concat)
    uncond = Conditioning(torch.zeros(1, 2, 3), concat=concat)
    guided(make_denoiser(unet, SCHEDULE, "eps"), cond, uncond, 5.0)(torch.ones(1, 4, 2, 2), 1.0)
    assert unet.calls[0]["x"].shape == (2, 9, 2, 2)


def test_inpaint_blend_feeds_noised_x0_outside_the_mask_and_keeps_x0_there():
    x0 = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(0))
    noise = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(1))
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 1:3, 1:3] = 1  # repaint the centre
    seen = []

    def inner(x, sigma):
        seen.append(x)
        return torch.full_like(x, 7.0)

    x = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(2)) * 3
    out = blend_inpaint(inner, x0, mask, noise)(x, 3.0)
    keep = mask == 0
    keep = keep.expand_as(x)
    torch.testing.assert_close(seen[0][keep], (x0 + 3.0 * noise)[keep])
    assert torch.equal(seen[0][~keep], x[~keep])
    torch.testing.assert_close(out[keep], x0[keep])
    assert torch.all(out[~keep] == 7.0)


def test_inpainting_a_whole_run_leaves_the_unmasked_latent_exactly_as_it_was():
    x0 = torch.randn(1, 4, 6, 6, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(1, 1, 6, 6)
    mask[..., :3] = 1
    generator = torch.Generator().manual_seed(5)
    noise = torch.randn(x0.shape, generator=generator)
    unet = RecordingUNet(lambda x, t, c: torch.tanh(x) * 0.5)
    denoise = guided(make_denoiser(unet, SCHEDULE, "eps"), Conditioning(None), None, 1.0)
    sigmas = sampling_sigmas(SCHEDULE, 8, "karras", "euler_a")
    x = noised_latent(x0, noise, sigmas[0])
    out = sample("euler_a", blend_inpaint(denoise, x0, mask, noise), x, sigmas, generator=generator)
    torch.testing.assert_close(out[..., 3:], x0[..., 3:])
    assert (out[..., :3] - x0[..., :3]).abs().max() > 0.1  # the hole was repainted
