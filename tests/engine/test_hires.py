"""Hires fix: txt2img at the base size, upscaled, then img2img at the larger size with the same seeds."""

import threading

import numpy as np
import pytest
import torch

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.metadata.a1111 import format_infotext, request_from_infotext
from ldm_studio.engine.pipelines import run as our_pipeline
from ldm_studio.engine.requests import GenerationRequest, Preview, Progress, Result
from ldm_studio.engine.validation import check_limits, validate_request
from tests.checkpoints import write_tiny_checkpoint
from tests.engine.test_seeds import models, run_tapped  # noqa: F401 (the fixture)

BASE = GenerationRequest(prompt="a red cube", steps=4, width=32, height=32, seed=3, sampler="euler")


def _events(model, request):
    return list(our_pipeline.run(model, request, threading.Event()))


def test_scale_one_and_denoise_zero_is_the_first_pass(models):  # noqa: F811
    plain = _events(models("sd1"), BASE)[-1]
    hires = _events(models("sd1"), BASE.replace(hires=True, hires_scale=1.0, hires_denoise=0.0))[-1]
    assert np.array_equal(np.asarray(hires.images[0]), np.asarray(plain.images[0]))
    assert "Hires upscale: 1, Hires upscaler: Latent" in hires.infotexts[0]
    redone = _events(models("sd1"), BASE.replace(hires=True, hires_scale=1.0, hires_denoise=0.5))[-1]
    assert not np.array_equal(np.asarray(redone.images[0]), np.asarray(plain.images[0]))  # the pass ran


@pytest.mark.parametrize("upscaler", ["latent", "latent-bicubic", "latent-nearest-exact", "lanczos"])
def test_the_second_pass_makes_a_scaled_image_and_reports_its_stage(models, upscaler):  # noqa: F811
    request = BASE.replace(
        hires=True, hires_scale=1.5, hires_upscaler=upscaler, hires_steps=6, hires_denoise=0.5
    )
    events = _events(models("sd1"), request)
    result = events[-1]
    assert isinstance(result, Result) and result.images[0].size == (48, 48)
    progress = [e for e in events if isinstance(e, Progress)]
    # 4 first-pass steps, then the last int(6 · 0.5) = 3 of a 6-step schedule, counted as one run of 7.
    assert [e.step for e in progress] == list(range(8)) and {e.total for e in progress} == {7}
    assert [e.stage for e in progress][-3:] == ["hires fix"] * 3 and progress[4].stage == ""
    previews = [e for e in events if isinstance(e, Preview)]
    assert previews[3].image.shape[:2] == (4, 4) and previews[-1].image.shape[:2] == (6, 6)
    label = {"latent": "Latent", "latent-bicubic": "Latent (bicubic)", "lanczos": "Lanczos"}.get(
        upscaler, "Latent (nearest-exact)"
    )
    # As A1111 writes it: the base size, the second pass's denoising strength.
    assert (
        f"Size: 32x32, Model hash: {models('sd1').short_hash()}, Model: sd1, Denoising strength: 0.5, "
        f"Hires upscale: 1.5, Hires steps: 6, Hires upscaler: {label}"
    ) in result.infotexts[0]


def test_each_hires_image_of_a_batch_is_made_again_alone(models, monkeypatch):  # noqa: F811
    request = BASE.replace(hires=True, hires_scale=2.0, sampler="euler_a", hires_denoise=0.6, seed=11)
    batch, latents = run_tapped(models("sd1"), request.replace(batch_size=2), monkeypatch)
    assert latents.shape[-2:] == (8, 8) and batch.seeds == [11, 12]
    for i in range(2):
        _, alone = run_tapped(models("sd1"), request.for_image(i), monkeypatch)
        torch.testing.assert_close(latents[i : i + 1], alone, atol=1e-6, rtol=0)


def test_an_x4_upscaler_checkpoint_can_be_the_hires_upscaler(models, tmp_path):  # noqa: F811
    upscaler = write_tiny_checkpoint(tmp_path / "tiny-x4.safetensors", "sd-x4-upscaler")
    request = BASE.replace(hires=True, hires_scale=2.0, hires_upscaler=str(upscaler), hires_denoise=0.3)
    result = _events(models("sd1"), request)[-1]
    assert result.images[0].size == (64, 64)
    assert "Hires upscaler: tiny-x4" in result.infotexts[0]


def test_hires_infotext_reads_back():
    request = BASE.replace(hires=True, hires_scale=2.0, hires_steps=10, hires_denoise=0.45)
    text = format_infotext(request, seed=3)
    assert "Denoising strength: 0.45, Hires upscale: 2, Hires steps: 10, Hires upscaler: Latent" in text
    back = request_from_infotext(text)
    assert back.mode == "txt2img" and (back.width, back.height) == (32, 32)
    assert (back.hires, back.hires_scale, back.hires_steps, back.hires_denoise) == (True, 2.0, 10, 0.45)
    assert back.hires_upscaler == "latent"
    other = request_from_infotext(text.replace("Hires upscaler: Latent", "Hires upscaler: R-ESRGAN 4x+"))
    assert other.hires_upscaler == "R-ESRGAN 4x+"
    with pytest.raises(InputError, match="unknown hires upscaler 'R-ESRGAN 4x\\+'"):
        check_limits(other)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hires_scale": 5.0}, "hires scale must be between 1 and 4"),
        ({"hires_scale": 0.5}, "hires scale must be between 1 and 4"),
        ({"hires_denoise": 1.5}, "hires denoising strength must be between 0 and 1"),
        ({"hires_steps": -1}, "hires steps must be 0"),
        ({"hires_upscaler": "bicubic"}, "unknown hires upscaler 'bicubic'"),
        ({"hires_upscaler": "/nowhere/x4.safetensors"}, "no such file"),
        ({"mode": "img2img"}, "hires fix is a txt2img option"),
        ({"width": 4096, "height": 4096, "hires_scale": 4.0}, "too large"),
    ],
)
def test_bad_hires_values_are_refused_before_a_model_loads(changes, message):
    with pytest.raises(InputError, match=message):
        check_limits(BASE.replace(hires=True, **changes))


def test_a_scaled_size_off_the_models_grid_names_the_sizes_that_fit():
    request = BASE.replace(width=48, height=48, hires=True, hires_scale=1.3)  # 62x62 on a 16 px grid
    with pytest.raises(InputError, match=r"48x48 × 1.3 is 62x62, .* multiples of 16: .* width 48 or 64"):
        validate_request(request, modes=("txt2img",), size_multiple=16, family_label="SD 1.x")
