"""Outpainting through the pipeline: big canvases are worked in windows at the model's own size."""

import itertools
import threading

import numpy as np
import pytest

from ldm_studio.engine.checkpoints.loading import load_model
from ldm_studio.engine.errors import InputError
from ldm_studio.engine.metadata.a1111 import request_from_infotext
from ldm_studio.engine.pipelines.images import mask_bbox
from ldm_studio.engine.pipelines.outpaint import outpaint_request, with_detail
from ldm_studio.engine.pipelines.outpaint_tiles import plan_tiles
from ldm_studio.engine.pipelines.run import run
from ldm_studio.engine.requests import Cancelled, GenerationRequest, Preview, Progress, Result
from ldm_studio.resources import resource_path


@pytest.fixture(scope="module")
def demo():
    return load_model(resource_path("models", "demo-txt2img.safetensors"), device="cpu")


def _photo(width, height, seed=2) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _outpaint(image, native, **sides) -> GenerationRequest:
    base = GenerationRequest(init_image=image, prompt="a red circle", steps=2, seed=11, cfg_scale=3.0,
                             strength=1.0)  # fmt: skip
    return with_detail(outpaint_request(base, **sides), native)


def test_a_3000_px_photo_extended_by_256_is_split_into_windows_at_full_detail():
    request = _outpaint(np.zeros((3000, 2000, 3), np.uint8), (512, 512), right=256)
    assert request.inpaint_only_masked and request.outpaint.startswith("left 0, right 256")
    tiles = plan_tiles(request, (512, 512))
    assert len(tiles.masks) > 1
    for mask in tiles.masks:  # each window's crop fits the native size: worked at scale ≥ 1
        left, top, right, bottom = mask_bbox(mask, tiles.padding, multiple=8, aspect=1.0)
        assert right - left <= 512 and bottom - top <= 512
    assert np.array_equal(np.maximum.reduce(tiles.masks), request.mask)  # together: the whole new area


def test_small_canvases_and_plain_inpaints_are_not_split():
    assert plan_tiles(_outpaint(np.zeros((400, 400, 3), np.uint8), (512, 512), right=64), (512, 512)) is None
    mask = np.zeros((3000, 300), np.uint8)
    mask[:, 200:] = 255
    plain = GenerationRequest(mode="inpaint", init_image=np.zeros((3000, 300, 3), np.uint8), mask=mask,
                              inpaint_only_masked=True)  # fmt: skip
    assert plan_tiles(plain, (512, 512)) is None  # ordinary inpainting keeps its one crop


def test_a_tall_canvas_runs_window_by_window_and_keeps_the_old_pixels(demo):
    # The demo works at 128²: a 96x256 canvas's new strip is painted in windows whose crops are ≤ 128.
    old = _photo(64, 256)
    request = _outpaint(old, demo.config.default_size, right=32, overlap=16)
    events = list(run(demo, request, threading.Event()))
    progress = [e for e in events if isinstance(e, Progress)]
    windows = len(plan_tiles(request, demo.config.default_size).masks)
    assert windows > 1 and progress[-1].step == progress[-1].total == 2 * windows
    assert all(a.step <= b.step for a, b in itertools.pairwise(progress))
    boxes = {e.box for e in events if isinstance(e, Preview)}
    assert len(boxes) == windows and all(r - l <= 128 and b - t <= 128 for l, t, r, b in boxes)
    result = events[-1]
    assert isinstance(result, Result) and result.seeds == [11]
    out = np.asarray(result.images[0])
    assert out.shape == (256, 96, 3)
    assert np.array_equal(out[:, :48], old[:, :48])
    assert out[:, 64:].std() > 0
    again = request_from_infotext(result.infotexts[0])
    assert again.seed == 11 and again.inpaint_padding == 32 and again.outpaint == request.outpaint
    assert not again.soft_inpainting  # the windows blend softly, but the user did not ask for soft


def test_cancel_between_windows_stops_the_job(demo):
    request = _outpaint(_photo(64, 256), demo.config.default_size, right=32)
    cancel = threading.Event()
    events = []
    for event in run(demo, request, cancel):
        events.append(event)
        if isinstance(event, Progress) and event.step == 3:
            cancel.set()
    assert isinstance(events[-1], Cancelled) and not any(isinstance(e, Result) for e in events)


def test_a_canvas_past_the_largest_side_is_refused_with_the_limit():
    with pytest.raises(InputError, match="8192 px limit"):
        outpaint_request(GenerationRequest(init_image=np.zeros((64, 8000, 3), np.uint8)), left=256)
    with pytest.raises(InputError, match="megapixels"):
        outpaint_request(GenerationRequest(init_image=np.zeros((8000, 8000, 3), np.uint8), batch_size=2),
                         right=64)  # fmt: skip


def test_a_nine_channel_model_outpaints_a_big_canvas_in_windows(tmp_path):
    import dataclasses

    from tests.checkpoints import write_tiny_checkpoint

    model = load_model(write_tiny_checkpoint(tmp_path / "inpaint.safetensors", "sd1-inpaint"))
    model = dataclasses.replace(model, config=dataclasses.replace(model.config, default_size=(64, 64)))
    old = _photo(32, 128)
    request = _outpaint(old, (64, 64), left=32, overlap=8)
    assert len(plan_tiles(request, (64, 64)).masks) > 1
    result = list(run(model, request, threading.Event()))[-1]
    out = np.asarray(result.images[0])
    assert out.shape == (128, 64, 3) and np.array_equal(out[:, 40:], old[:, 8:])
