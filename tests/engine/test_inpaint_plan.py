"""plan_inpaint: the working image and mask for the inpaint run, without touching the user's arrays."""

from __future__ import annotations

import numpy as np

from ldm_studio.engine.pipelines.inpainting import plan_inpaint
from ldm_studio.engine.requests import GenerationRequest


def _request(height: int, width: int) -> GenerationRequest:
    image = np.full((height, width, 3), 120, np.uint8)
    mask = np.zeros((height, width), np.uint8)
    mask[8:24, 8:24] = 255
    image.flags.writeable = False
    mask.flags.writeable = False  # as a mask read from a memory-mapped or shared buffer arrives
    return GenerationRequest(mode="inpaint", init_image=image, mask=mask, width=width, height=height)


def test_a_read_only_mask_on_the_grid_is_used_as_it_is():
    request = _request(64, 64)
    plan = plan_inpaint(request, (64, 64), 8)
    assert plan.box == (0, 0, 64, 64)
    np.testing.assert_array_equal(plan.mask, request.mask)


def test_a_mask_off_the_grid_is_padded_and_the_padding_never_repainted():
    request = _request(60, 62)
    plan = plan_inpaint(request, (64, 64), 8)
    assert plan.mask.shape == (64, 64)
    assert not plan.mask[60:, :].any() and not plan.mask[:, 62:].any()
    np.testing.assert_array_equal(plan.mask[:60, :62], request.mask)
    assert not request.mask.flags.writeable  # the user's array is not replaced or written
