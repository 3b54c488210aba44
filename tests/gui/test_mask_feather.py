"""The feather preview (Qt-free) shows the very mask the inpainting pipeline uses."""

import numpy as np
import pytest

from ldm_studio.gui.mask.brush import Brush, paint_segment
from ldm_studio.gui.mask.feather import FeatherPreview, feathered


def painted_mask():
    mask = np.zeros((90, 110), np.uint8)
    mask[20:60, 15:55] = 255
    mask[0:12, 80:110] = 200  # at the border: the edge must not fade there
    paint_segment(mask, Brush(size=9, hardness=0.4), (60.0, 80.0), (105.0, 70.0))  # thin soft stroke
    return mask


@pytest.mark.parametrize("blur_px", [1, 4, 10])
def test_the_feather_preview_equals_the_pipelines_feathered_mask(blur_px):
    torch = pytest.importorskip("torch")
    from ldm_studio.engine.pipelines.images import feather_mask, mask_to_tensor

    mask = painted_mask()
    expected = feather_mask(mask_to_tensor(mask), blur_px / 2.5)[0, 0].numpy() * 255.0
    assert torch.is_tensor(feather_mask(mask_to_tensor(mask), 1.0))
    assert np.abs(feathered(mask, blur_px).astype(np.float32) - expected).max() <= 1.0


def test_the_soft_edge_stays_inside_the_painted_area():
    mask = painted_mask()
    soft = feathered(mask, blur_px=6)
    assert not soft[mask == 0].any()
    assert soft[40, 35] == 255  # the middle of the square is untouched
    assert 0 < soft[40, 16] < 128  # its edge fades
    assert soft[0, 95] >= 195 and soft[0, 95] > soft[11, 95]  # fades at its lower edge, not at the border


def test_grow_before_feathering_moves_the_edge_out():
    mask = np.zeros((60, 60), np.uint8)
    mask[20:40, 20:40] = 255
    soft = feathered(mask, blur_px=2, grow_px=6)
    assert soft[30, 15] > 0 and soft[30, 13] == 0


def test_the_preview_updated_by_region_equals_a_full_recompute():
    rng = np.random.default_rng(0)
    mask = np.zeros((200, 240), np.uint8)
    preview = FeatherPreview(*mask.shape)
    preview.recompute(mask, blur_px=4, grow_px=3)
    for _ in range(8):
        start, end = tuple(rng.uniform(-10, 250, 2)), tuple(rng.uniform(-10, 250, 2))
        changed = paint_segment(mask, Brush(size=rng.uniform(4, 40), erase=rng.random() < 0.3), start, end)
        if changed is not None:
            preview.update(mask, changed)
    full = feathered(mask, 4, 3)
    assert full.any()
    np.testing.assert_array_equal(preview.array, full)
