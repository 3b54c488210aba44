"""The document model: what Generate freezes, what widgets and dropped files write into it."""

from __future__ import annotations

import random

import numpy as np
import pytest

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.metadata import request_from_infotext
from ldm_studio.gui.document import Document


def test_generate_freezes_a_snapshot_that_later_edits_do_not_change():
    document = Document(prompt="a red circle", steps=12, cfg_scale=5.5, sampler="dpmpp_2m", seed=42)
    request = document.to_request(None, None)
    document.prompt = "a blue square"
    document.steps = 30

    assert (request.prompt, request.steps, request.cfg_scale, request.sampler, request.seed) == (
        "a red circle",
        12,
        5.5,
        "dpmpp_2m",
        42,
    )
    assert request.init_image is None and request.mask is None


def test_changed_fires_once_per_real_change_with_the_field_name():
    document = Document()
    seen: list[str] = []
    document.changed.connect(seen.append)
    document.steps = 25
    document.steps = 25  # same value: widgets need no update
    document.prompt = "cat"
    assert seen == ["steps", "prompt"]


def test_values_are_kept_in_range_the_model_can_use():
    document = Document()
    document.width = 517  # latent models need multiples of 8
    document.steps = 0
    document.strength = 1.7
    assert (document.width, document.steps, document.strength) == (512, 1, 1.0)
    with pytest.raises(ValueError, match="not one of"):
        document.sampler = "no-such-sampler"


def test_inpaint_takes_the_canvas_image_size_and_copies_image_and_mask():
    image = np.zeros((48, 64, 3), np.uint8)
    mask = np.zeros((48, 64), np.uint8)
    mask[10:20, 10:20] = 255
    document = Document(mode="inpaint", width=512, height=512, mask_blur=8)
    request = document.to_request(image, mask)
    mask[:] = 0  # the user keeps painting after pressing Generate

    assert (request.width, request.height, request.mask_blur) == (64, 48, 8)
    assert request.mask is not None and request.mask.sum() == 100 * 255
    assert request.init_image is not None and request.init_image.shape == (48, 64, 3)


@pytest.mark.parametrize(
    ("mode", "image", "mask", "message"),
    [
        ("img2img", None, None, "needs an input image: open or drop one first"),
        ("upscale", None, None, "needs an input image"),
        ("inpaint", np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8), "paint over the area"),
        ("inpaint", np.zeros((8, 8, 3), np.uint8), None, "Inpaint needs a mask"),
    ],
)
def test_a_mode_without_its_input_says_what_to_do(mode, image, mask, message):
    with pytest.raises(InputError, match=message):
        Document(mode=mode).to_request(image, mask)


def test_parameters_from_an_a1111_png_restore_the_prompt_and_lock_the_seed():
    document = Document(model="/models/mine.safetensors", mode="inpaint", prompt="old")
    infotext = (
        "a (green:1.2) triangle, top left\nNegative prompt: blurry\n"
        "Steps: 31, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 1234, "
        "Size: 640x384, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly"
    )
    document.apply_parameters(request_from_infotext(infotext))

    assert document.prompt == "a (green:1.2) triangle, top left"
    assert document.negative_prompt == "blurry"
    assert (document.steps, document.sampler, document.schedule, document.cfg_scale) == (
        31,
        "dpmpp_2m",
        "karras",
        6.5,
    )
    assert (document.seed, document.seed_locked, document.width, document.height) == (1234, True, 640, 384)
    # This machine's choices stay: the file names a model on someone else's disk.
    assert (document.model, document.mode) == ("/models/mine.safetensors", "inpaint")


def test_stored_values_from_an_older_or_damaged_settings_file_are_skipped():
    document = Document()
    stored = {"steps": 33, "sampler": "gone-sampler", "removed_field": 1, "cfg_scale": "x"}
    document.update(stored, strict=False)
    assert (document.steps, document.sampler, document.cfg_scale) == (33, "euler", 7.0)


def test_the_random_button_draws_a_new_seed_in_range():
    document = Document(seed=5)
    rng = random.Random(3)
    draws = set()
    for _ in range(3):
        document.randomize_seed(rng)
        draws.add(document.seed)
    assert len(draws) == 3 and 5 not in draws
    assert all(0 <= seed < 2**32 for seed in draws)
