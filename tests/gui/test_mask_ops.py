"""Grow, shrink and feather (Qt-free), checked against brute force and against Pillow's blur."""

import numpy as np
import pytest
from PIL import Image, ImageFilter

from ldm_studio.gui import mask_ops
from ldm_studio.gui.mask_brush import Brush, paint_segment
from ldm_studio.gui.mask_feather import FeatherPreview


def _brute_force_dilate(mask, radius):
    out = np.zeros_like(mask)
    height, width = mask.shape
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dx * dx + dy * dy <= radius * radius:
                shifted = np.zeros_like(mask)
                shifted[max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)] = mask[
                    max(-dy, 0) : height + min(-dy, 0), max(-dx, 0) : width + min(-dx, 0)
                ]
                out = np.maximum(out, shifted)
    return out


@pytest.mark.parametrize("radius", [1, 3, 7])
def test_dilation_takes_the_maximum_over_a_disc(radius):
    rng = np.random.default_rng(radius)
    mask = (rng.random((37, 41)) > 0.97).astype(np.uint8) * rng.integers(1, 256, (37, 41), dtype=np.uint8)
    np.testing.assert_array_equal(mask_ops.dilate_disc(mask, radius), _brute_force_dilate(mask, radius))


def test_grow_makes_a_square_bigger_with_round_corners():
    mask = np.zeros((60, 60), np.uint8)
    mask[20:40, 20:40] = 255
    grown = mask_ops.grow(mask, 5)
    assert (grown[15:45, 20:40] == 255).all() and (grown[20:40, 15:45] == 255).all()
    assert grown[14, 30] == 0 and grown[30, 45] == 0
    assert grown[15, 15] == 0  # the corner is rounded, not a bigger square
    assert mask[30, 30] == 255 and mask[15, 30] == 0  # the input is left alone


def test_shrink_is_the_reverse_of_grow_on_a_square_and_keeps_the_border():
    mask = np.zeros((60, 60), np.uint8)
    mask[0:40, 20:40] = 255  # touches the top border
    shrunk = mask_ops.grow(mask, -5)
    assert (shrunk[0:35, 25:35] == 255).all()  # not eaten away from the image border
    assert (shrunk[35:, :] == 0).all() and (shrunk[:, :25] == 0).all()
    np.testing.assert_array_equal(mask_ops.grow(mask_ops.grow(mask, 4), -4)[0:40, 20:40], mask[0:40, 20:40])


def test_grow_of_an_empty_mask_stays_empty():
    assert not mask_ops.grow(np.zeros((20, 20), np.uint8), 3).any()


@pytest.mark.parametrize("sigma", [1.0, 2.5, 6.0])
def test_the_feather_blur_matches_pillows_gaussian_blur(sigma):
    mask = np.zeros((80, 90), np.uint8)
    mask[20:50, 10:40] = 255
    mask[0:10, 70:90] = 200  # at the border: edges must be repeated the way Pillow does
    expected = np.asarray(Image.fromarray(mask).filter(ImageFilter.GaussianBlur(sigma))).astype(int)
    ours = mask_ops.gaussian_blur(mask, sigma).astype(int)
    assert np.abs(ours - expected).max() <= 1


def test_feathered_grows_then_blurs():
    mask = np.zeros((80, 80), np.uint8)
    mask[30:50, 30:50] = 255
    result = mask_ops.feathered(mask, blur_px=3, grow_px=6)
    assert result[40, 40] == 255
    assert 100 < result[40, 24] < 160  # the new edge (grown by 6) is half way through the blur
    assert result[40, 10] == 0


def test_feather_preview_updated_by_region_equals_a_full_recompute():
    rng = np.random.default_rng(0)
    mask = np.zeros((200, 240), np.uint8)
    preview = FeatherPreview(*mask.shape)
    preview.recompute(mask, blur_px=4, grow_px=3)
    for _ in range(6):
        start, end = tuple(rng.uniform(-10, 250, 2)), tuple(rng.uniform(-10, 250, 2))
        changed = paint_segment(mask, Brush(size=rng.uniform(4, 40), erase=rng.random() < 0.3), start, end)
        if changed is not None:
            preview.update(mask, changed)
    full = mask_ops.feathered(mask, 4, 3).astype(int)
    assert full.any()
    assert np.abs(preview.array.astype(int) - full).max() <= 1  # float rounding only
