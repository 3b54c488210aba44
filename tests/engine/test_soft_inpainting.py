"""Soft inpainting (Differential Diffusion): the grey-level mask as per-pixel strength."""

import dataclasses
import itertools
import threading

import numpy as np
import pytest
import torch

from ldm_studio.engine.checkpoints.loading import load_model
from ldm_studio.engine.metadata.a1111 import request_from_infotext
from ldm_studio.engine.pipelines import soft_inpainting
from ldm_studio.engine.pipelines.run import run
from ldm_studio.engine.requests import GenerationRequest, Result
from ldm_studio.resources import resource_path
from tests.checkpoints import write_tiny_checkpoint

BANDS = (0.0, 0.25, 0.5, 0.75, 1.0)


@pytest.fixture(scope="module")
def demo():
    return load_model(resource_path("models", "demo-txt2img.safetensors"), device="cpu")


@pytest.fixture(scope="module")
def tiny_inpaint(tmp_path_factory):
    path = write_tiny_checkpoint(tmp_path_factory.mktemp("m") / "sd1-inpaint.safetensors", "sd1-inpaint")
    model = load_model(path)
    return dataclasses.replace(model, config=dataclasses.replace(model.config, default_size=(64, 64)))


def _image(width=64, height=80, seed=3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    smooth = rng.integers(0, 256, (height // 8, width // 8, 3)).repeat(8, 0).repeat(8, 1)
    return smooth.astype(np.uint8)


def _band_mask(height=80, width=64) -> np.ndarray:
    """Horizontal bands of 16 px (two latent rows each), strengths 0, .25, .5, .75, 1 from the top."""
    rows = np.repeat(np.round(np.array(BANDS) * 255), height // len(BANDS)).astype(np.uint8)
    return np.repeat(rows[:, None], width, axis=1)


def _inpaint(model, image, mask, **changes) -> Result:
    request = GenerationRequest(
        mode="inpaint", init_image=image, mask=mask, prompt="a red circle", steps=8, seed=5, strength=1.0,
        mask_blur=0, cfg_scale=3.0, preview_interval=0, sampler="euler",
    ).replace(**changes)  # fmt: skip
    events = list(run(model, request, threading.Event()))
    assert isinstance(events[-1], Result)
    return events[-1]


def _changes_per_band(image, out) -> list[float]:
    diff = np.abs(np.asarray(out, dtype=np.int16) - image.astype(np.int16)).mean(axis=(1, 2))
    return [float(band.mean()) for band in np.split(diff, len(BANDS))]


def test_change_grows_with_strength_and_strength_0_stays_the_input(demo):
    image, mask = _image(), _band_mask()
    result = _inpaint(demo, image, mask, soft_inpainting=True)
    out = np.asarray(result.images[0])
    changes = _changes_per_band(image, out)
    assert changes[0] == 0.0  # strength 0: the input's bytes (pasted back through the soft mask)
    assert all(a < b for a, b in itertools.pairwise(changes)), changes
    assert changes[-1] > 4 * changes[1], changes
    assert "Soft inpainting enabled: True" in result.infotexts[0]
    assert request_from_infotext(result.infotexts[0]).soft_inpainting is True
    without = result.infotexts[0].replace(", Soft inpainting enabled: True", "")
    assert "Soft inpainting" not in without and request_from_infotext(without).soft_inpainting is False


@pytest.mark.parametrize("sampler", ["euler", "dpmpp_2m"])
def test_a_hard_mask_gives_the_ordinary_inpaint_result(demo, sampler):
    # Strength 1 is ordinary inpainting: with a 0/255 mask on whole latent cells (no feather) both paths
    # keep and free the same cells at every step.
    image = _image()
    mask = np.zeros((80, 64), np.uint8)
    mask[16:56, 8:40] = 255
    soft = np.asarray(_inpaint(demo, image, mask, soft_inpainting=True, sampler=sampler).images[0])
    hard = np.asarray(_inpaint(demo, image, mask, sampler=sampler).images[0])
    assert np.array_equal(soft, hard)
    assert np.abs(hard.astype(int) - image)[16:56, 8:40].mean() > 5  # the masked area did change


def test_nine_channel_model_soft_bands(tiny_inpaint):
    image, mask = _image(), _band_mask()
    out = np.asarray(_inpaint(tiny_inpaint, image, mask, soft_inpainting=True).images[0])
    changes = _changes_per_band(image, out)
    assert changes[0] == 0.0
    assert all(a < b for a, b in itertools.pairwise(changes)), changes


def test_strength_is_the_mask_feathered_inside_itself():
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:48] = 255
    request = GenerationRequest(mode="inpaint", mask=mask, mask_blur=8)
    feathered = soft_inpainting.feathered_request(request)
    assert feathered.mask_blur == 0
    assert (feathered.mask[mask == 0] == 0).all()  # unpainted pixels keep strength 0
    assert 0 < feathered.mask[17, 32] < feathered.mask[24, 32] < feathered.mask[32, 32]


def test_cells_join_when_their_strength_reaches_the_falling_threshold():
    # Denoise returns a constant: the estimate is 1 where a cell is free and x0 (0) where it is kept.
    sigmas = torch.tensor([4.0, 3.0, 2.0, 1.0, 0.0])
    strength = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]).view(1, 1, 1, 5)
    x0 = torch.zeros(1, 1, 1, 5)
    blended = soft_inpainting.differential_blend(lambda x, s: torch.ones_like(x), x0, strength, x0, sigmas)
    free = [blended(x0, float(s)).flatten().tolist() for s in sigmas[:-1]]
    assert free == [[0, 0, 0, 0, 1], [0, 0, 0, 1, 1], [0, 0, 1, 1, 1], [0, 1, 1, 1, 1]]
