"""The zoom/pan arithmetic (Qt-free): where on the image the mouse is, at any zoom and pan."""

import pytest

from ldm_studio.gui.canvas.view import MAX_ZOOM, View, fitted


def test_zooming_about_a_point_keeps_that_image_point_under_it():
    view = View(1.0, 13.0, -7.0)
    before = view.to_image(210.5, 99.5)
    for zoom in (3.0, 0.1, 17.0):
        view = view.zoomed(zoom, 210.5, 99.5)
        assert view.to_image(210.5, 99.5) == pytest.approx(before)


def test_zoom_is_clamped():
    assert View().zoomed(1e6, 0, 0).zoom == MAX_ZOOM


def test_a_mouse_pixel_maps_to_the_image_pixel_drawn_under_it():
    view = View(3.0, 30.0, 20.0)
    x, y = view.mouse_to_image(30 + 3 * 7 + 2, 20 + 3 * 4)  # third screen pixel of image pixel (7, 4)
    assert (int(x), int(y)) == (7, 4)


def test_fitted_centres_big_images_and_enlarges_small_ones_to_the_canvas():
    big = fitted(4096, 2048, 1000, 800, margin=0)
    assert big.zoom == pytest.approx(1000 / 4096)
    assert big.to_widget(2048, 1024) == pytest.approx((500, 400), abs=0.5)
    small = fitted(100, 50, 1000, 800, margin=0)
    assert small.zoom == pytest.approx(10.0) and small.to_widget(0, 0) == (0, 150)
    tiny = fitted(1, 1, 1000, 800)
    assert tiny.zoom == MAX_ZOOM
