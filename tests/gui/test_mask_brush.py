"""Brush rasterization (Qt-free): what lands in the mask for one stroke segment."""

import numpy as np
import pytest

from ldm_studio.gui.mask import brush as mask_brush
from ldm_studio.gui.mask.brush import Brush, paint_segment
from ldm_studio.gui.mask.document import MaskDocument


def _disc(shape, cx, cy, radius):
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    return (cols + 0.5 - cx) ** 2 + (rows + 0.5 - cy) ** 2 <= radius**2


def test_a_hard_dab_fills_the_disc_of_the_brush_size_and_nothing_else():
    mask = np.zeros((40, 40), np.uint8)
    paint_segment(mask, Brush(size=20, hardness=1.0), (20.0, 20.0), (20.0, 20.0))
    assert (mask[_disc(mask.shape, 20, 20, 9.4)] == 255).all()  # well inside: fully painted
    assert (mask[~_disc(mask.shape, 20, 20, 10.6)] == 0).all()  # outside the rim: untouched


def test_a_one_pixel_brush_paints_exactly_the_pixel_under_it():
    mask = np.zeros((10, 10), np.uint8)
    paint_segment(mask, Brush(size=1), (3.5, 6.5), (3.5, 6.5))
    expected = np.zeros_like(mask)
    expected[6, 3] = 255
    np.testing.assert_array_equal(mask, expected)


def test_a_soft_brush_fades_from_the_centre_to_the_rim():
    mask = np.zeros((60, 60), np.uint8)
    paint_segment(mask, Brush(size=50, hardness=0.0), (30.0, 30.0), (30.0, 30.0))
    profile = mask[29, 30:56].astype(int)
    assert profile[0] == 255
    assert (np.diff(profile) <= 0).all()  # never brighter further out
    assert 60 < profile[12] < 200  # half way out is half painted
    assert profile[-1] == 0


def test_a_fast_long_move_leaves_no_gap():
    mask = np.zeros((50, 400), np.uint8)
    paint_segment(mask, Brush(size=6), (5.0, 25.0), (395.0, 25.0))  # one segment, 390 px long
    assert (mask[25, 5:395] == 255).all()
    assert (mask[20, :] == 0).all()


def test_a_stroke_from_outside_is_clipped_at_the_border():
    mask = np.zeros((30, 30), np.uint8)
    changed = paint_segment(mask, Brush(size=10), (-50.0, 15.0), (10.0, 15.0))
    assert (mask[15, 0:10] == 255).all()
    assert changed is not None and changed[0] == 0  # the dirty rect stays inside the image
    assert paint_segment(mask, Brush(size=10), (-50.0, 15.0), (-20.0, 15.0)) is None


def test_the_eraser_clears_what_the_brush_painted():
    mask = np.full((30, 30), 255, np.uint8)
    paint_segment(mask, Brush(size=10, erase=True), (5.0, 15.0), (25.0, 15.0))
    assert (mask[15, 5:25] == 0).all()
    assert (mask[0, :] == 255).all()


def test_lower_pressure_paints_a_thinner_line():
    mask = np.zeros((60, 60), np.uint8)
    paint_segment(mask, Brush(size=20), (10.0, 15.0), (50.0, 15.0), 1.0, 1.0)
    paint_segment(mask, Brush(size=20), (10.0, 45.0), (50.0, 45.0), 0.3, 0.3)
    full_width = (mask[:, 30] > 127)[:30].sum()
    light_width = (mask[:, 30] > 127)[30:].sum()
    assert full_width == 20
    assert light_width == 6


@pytest.mark.parametrize(
    "brush", [Brush(size=300), Brush(size=260, hardness=0.3), Brush(size=300, erase=True)]
)
def test_big_brushes_painted_block_by_block_match_pixel_by_pixel(brush, monkeypatch):
    rng = np.random.default_rng(3)
    points = [(100.0, 200.0)]
    for _ in range(25):
        points.append((points[-1][0] + rng.uniform(-20, 30), points[-1][1] + rng.uniform(-25, 25)))
    pressures = np.ones(len(points))
    pressures[10:18] = rng.uniform(0.6, 1.0, 8)  # a pen for a while
    start = np.full((500, 600), 0 if not brush.erase else 255, np.uint8)
    start[::7, ::5] = 128  # something for the eraser and the brush to meet

    def stroke():
        document = MaskDocument(*start.shape)
        document.mask[...] = start
        document.begin_stroke(brush, points[0], pressures[0])
        for point, pressure in zip(points[1:], pressures[1:], strict=True):
            document.continue_stroke(point, pressure)
        return document.mask

    fast = stroke()
    monkeypatch.setattr(mask_brush, "BLOCK", 10**6)  # one block: every pixel computed
    difference = np.abs(fast.astype(int) - stroke())
    assert difference.max() <= 1  # float rounding of the same coverage, computed from another point
    assert (difference > 0).sum() < 20
    assert (fast != start).sum() > 50_000
