"""Grow and shrink (Qt-free), checked against brute force."""

import numpy as np
import pytest

from ldm_studio.gui.mask import ops as mask_ops


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
