"""The pipeline contract as a user meets it: events step by step, cancel, seeds, untouched pixels."""

import dataclasses
import threading

import numpy as np
import pytest

from ldm_studio.engine.checkpoints.loading import load_model
from ldm_studio.engine.errors import InputError
from ldm_studio.engine.pipelines.run import run
from ldm_studio.engine.requests import Cancelled, GenerationRequest, Preview, Progress, Result
from tests.checkpoints import write_tiny_checkpoint


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    cache = {}

    def get(family: str):
        if family not in cache:
            model = load_model(write_tiny_checkpoint(folder / f"{family}.safetensors", family))
            # Tiny test models: a native size of 64 keeps "only masked area" crops small and quick.
            cache[family] = dataclasses.replace(
                model, config=dataclasses.replace(model.config, default_size=(64, 64))
            )
        return cache[family]

    return get


def _image(width=64, height=64, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _events(model, request, cancel=None):
    return list(run(model, request, cancel or threading.Event()))


def _result(events) -> Result:
    results = [e for e in events if isinstance(e, Result)]
    assert len(results) == 1
    assert events[-1] is results[0]
    return results[0]


def test_txt2img_yields_progress_and_a_preview_every_step_then_one_result(models):
    request = GenerationRequest(prompt="a red circle", steps=4, width=64, height=64, sampler="euler")
    events = _events(models("sd1"), request)
    progress = [e.step for e in events if isinstance(e, Progress)]
    previews = [e for e in events if isinstance(e, Preview)]
    assert progress == [0, 1, 2, 3, 4]
    assert [p.step for p in previews] == [1, 2, 3, 4]
    assert previews[0].image.shape == (8, 8, 3) and previews[0].image.dtype == np.uint8
    result = _result(events)
    assert result.images[0].size == (64, 64)
    assert "Steps: 4" in result.infotexts[0] and "Seed: 0" in result.infotexts[0]


def test_preview_interval_thins_previews_but_always_shows_the_last_step(models):
    request = GenerationRequest(steps=5, width=64, height=64, preview_interval=2)
    events = _events(models("sd1"), request)
    assert [e.step for e in events if isinstance(e, Preview)] == [2, 4, 5]


def test_the_same_seed_gives_the_same_image_and_another_seed_does_not(models):
    request = GenerationRequest(prompt="a cat", steps=3, width=64, height=64, seed=42, sampler="euler_a")
    first = np.asarray(_result(_events(models("sd1"), request)).images[0])
    again = np.asarray(_result(_events(models("sd1"), request)).images[0])
    other = np.asarray(_result(_events(models("sd1"), request.replace(seed=43))).images[0])
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_a_batch_gives_distinct_images_each_from_its_own_seed(models):
    request = GenerationRequest(steps=2, width=64, height=64, batch_size=2)
    result = _result(_events(models("sd1"), request))
    assert len(result.images) == 2 and result.seeds == [0, 1]  # image i: seed + i
    assert not np.array_equal(np.asarray(result.images[0]), np.asarray(result.images[1]))


def test_cancel_stops_within_one_step_and_yields_no_result(models):
    cancel = threading.Event()
    request = GenerationRequest(steps=10, width=64, height=64)
    events = []
    for event in run(models("sd1"), request, cancel):
        events.append(event)
        if isinstance(event, Progress) and event.step == 3:
            cancel.set()
    assert isinstance(events[-1], Cancelled)
    assert events[-1].step <= 4
    assert not any(isinstance(e, Result) for e in events)


def test_closing_the_generator_midway_ends_the_run_cleanly(models):
    events = run(models("sd1"), GenerationRequest(steps=10, width=64, height=64), threading.Event())
    for event in events:
        if isinstance(event, Progress) and event.step == 2:
            break
    events.close()  # must not hang or raise


def test_img2img_strength_zero_only_round_trips_through_the_vae(models):
    image = _image()
    request = GenerationRequest(mode="img2img", init_image=image, strength=0.0, steps=10)
    events = _events(models("sd1"), request)
    assert [e.step for e in events if isinstance(e, Progress)] == [0]
    assert _result(events).images[0].size == (64, 64)


def test_img2img_of_an_odd_sized_image_returns_the_same_size(models):
    request = GenerationRequest(mode="img2img", init_image=_image(70, 50), strength=0.5, steps=4)
    result = _result(_events(models("sd1"), request))
    assert result.images[0].size == (70, 50)


@pytest.mark.parametrize("family", ["sd1", "sd1-inpaint", "ldm-inpaint"])
@pytest.mark.parametrize("only_masked", [False, True])
def test_inpaint_leaves_every_unpainted_pixel_bit_identical(models, family, only_masked):
    image = _image(96, 80)
    mask = np.zeros((80, 96), np.uint8)
    mask[20:50, 30:70] = 255
    request = GenerationRequest(
        mode="inpaint", init_image=image, mask=mask, steps=3, mask_blur=4,
        inpaint_only_masked=only_masked, inpaint_padding=8,
    )  # fmt: skip
    out = np.asarray(_result(_events(models(family), request)).images[0])
    assert out.shape == image.shape
    outside = mask == 0
    assert np.array_equal(out[outside], image[outside])
    assert not np.array_equal(out[25:45, 35:65], image[25:45, 35:65])


def test_only_masked_previews_name_the_region_they_cover(models):
    image = _image(128, 128)
    mask = np.zeros((128, 128), np.uint8)
    mask[10:30, 10:30] = 255
    request = GenerationRequest(
        mode="inpaint", init_image=image, mask=mask, steps=2, inpaint_only_masked=True, inpaint_padding=4
    )
    previews = [e for e in _events(models("sd1"), request) if isinstance(e, Preview)]
    left, top, right, bottom = previews[0].box
    assert left <= 6 and top <= 6 and right >= 34 and bottom >= 34 and right - left < 128


@pytest.mark.parametrize("family", ["sd-x4-upscaler", "ldm-bsr"])
def test_upscale_makes_the_image_four_times_larger(models, family):
    request = GenerationRequest(mode="upscale", init_image=_image(20, 12), steps=2, prompt="sharp")
    result = _result(_events(models(family), request))
    assert result.images[0].size == (80, 48)
    assert "Size: 80x48" in result.infotexts[0]  # the saved PNG says what it holds, not the request


def test_tiled_upscale_denoising_blends_tiles_without_seams():
    import torch

    from ldm_studio.engine.pipelines.upscaling import upscale_denoiser
    from ldm_studio.engine.sampling.denoisers import Conditioning

    # A pointwise "model": any seam or misplaced crop of the low-res input would show as a difference.
    def model_denoiser(x, sigma, cond: Conditioning):
        return 0.5 * x + cond.concat[:, :1] * sigma

    x = torch.randn(1, 1, 80, 72)
    low_res = torch.randn(1, 3, 80, 72)
    whole = upscale_denoiser(model_denoiser, None, low_res, None, 1.0)(x, 2.0)
    tiled = upscale_denoiser(model_denoiser, None, low_res, None, 1.0, tile=32, overlap=16)(x, 2.0)
    assert torch.allclose(tiled, whole, atol=1e-5)


@pytest.mark.parametrize(
    ("family", "request_", "message"),
    [
        (
            "sd1",
            GenerationRequest(mode="upscale", init_image=np.zeros((8, 8, 3), np.uint8)),
            "cannot do upscale",
        ),
        ("sd-x4-upscaler", GenerationRequest(mode="txt2img"), "cannot do txt2img"),
        ("sd1", GenerationRequest(width=100, height=64), "width 100 is not a multiple"),
        ("sd1", GenerationRequest(steps=0), "steps must be at least 1"),
    ],
)
def test_requests_a_model_cannot_run_fail_before_any_work(models, family, request_, message):
    with pytest.raises(InputError, match=message):
        run(models(family), request_, threading.Event())


def test_running_out_of_memory_becomes_a_message_with_advice(models, monkeypatch):
    import ldm_studio.engine.pipelines.run as pipeline
    from ldm_studio.engine.errors import OutOfMemory

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(pipeline, "decode_latents", exhausted)
    with pytest.raises(OutOfMemory, match=r"out of memory at 64x64 .* try a smaller size"):
        list(run(models("sd1"), GenerationRequest(steps=1, width=64, height=64), threading.Event()))
