"""What the user sees: overlay, previews, brush outline, zoom about the cursor (checked on grabbed pixels)."""

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QWheelEvent
from PySide6.QtWidgets import QApplication

from ldm_studio.gui.canvas.view import View
from ldm_studio.gui.canvas.widget import Canvas

GREY = (90, 90, 90)


@pytest.fixture
def canvas(qtbot):
    canvas = Canvas()
    qtbot.addWidget(canvas)
    canvas.resize(400, 300)
    canvas.show()
    qtbot.waitExposed(canvas)
    canvas.set_image(np.full((100, 120, 3), GREY, np.uint8))
    canvas.set_view(View(1.0, 10.0, 20.0))
    return canvas


def rgb_at(canvas, x, y):
    color = canvas.grab().toImage().pixelColor(x, y)
    return (color.red(), color.green(), color.blue())


def square_mask():
    mask = np.zeros((100, 120), np.uint8)
    mask[30:60, 40:80] = 255
    return mask


def test_the_mask_shows_as_a_tinted_overlay_that_can_be_recoloured_and_hidden(canvas):
    canvas.set_mask(square_mask())
    inside, outside = (10 + 50, 20 + 40), (10 + 20, 20 + 40)  # widget points over image (50, 40), (20, 40)
    canvas.set_overlay_color(QColor(255, 0, 0))
    canvas.set_overlay_opacity(0.5)
    red, green, blue = rgb_at(canvas, *inside)
    assert red > 160 and green < 60 and blue < 60  # half red over grey
    assert rgb_at(canvas, *outside) == GREY
    canvas.set_overlay_color(QColor(0, 0, 255))
    assert rgb_at(canvas, *inside)[2] > 160
    canvas.set_overlay_opacity(1.0)
    assert rgb_at(canvas, *inside) == (0, 0, 255)
    canvas.set_overlay_visible(False)
    assert rgb_at(canvas, *inside) == GREY


def test_a_live_preview_is_drawn_scaled_into_its_box_and_cleared(canvas):
    preview = np.zeros((8, 8, 3), np.uint8)
    preview[..., 1] = 255  # green
    canvas.show_preview(preview, (20, 10, 60, 50))
    assert rgb_at(canvas, 10 + 40, 20 + 30) == (0, 255, 0)  # image (40, 30): inside the box
    assert rgb_at(canvas, 10 + 15, 20 + 30) == GREY  # left of the box
    assert rgb_at(canvas, 10 + 40, 20 + 55) == GREY  # below it
    canvas.show_preview(preview, None)  # None: the whole image
    assert rgb_at(canvas, 10 + 110, 20 + 90) == (0, 255, 0)
    canvas.clear_preview()
    assert rgb_at(canvas, 10 + 40, 20 + 30) == GREY


def test_wheel_zoom_keeps_the_image_point_under_the_cursor(canvas):
    image = np.full((100, 120, 3), GREY, np.uint8)
    image[38:43, 68:73] = (255, 255, 0)  # a yellow 5x5 marker around pixel (70, 40)
    canvas.set_image(image)
    canvas.set_view(View(1.0, 10.0, 20.0))
    cursor = QPoint(10 + 70, 20 + 40)
    before = canvas.map_to_image(cursor.x(), cursor.y())
    for _ in range(4):
        event = QWheelEvent(
            QPointF(cursor), QPointF(canvas.mapToGlobal(cursor)), QPoint(), QPoint(0, 120),
            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
        )  # fmt: skip
        QApplication.sendEvent(canvas, event)
    assert canvas.zoom() == pytest.approx(1.25**4)
    assert canvas.map_to_image(cursor.x(), cursor.y()) == pytest.approx(before)
    assert rgb_at(canvas, cursor.x(), cursor.y()) == (255, 255, 0)  # still the marker under the mouse
    assert rgb_at(canvas, cursor.x() + 8, cursor.y()) == GREY  # and it grew: 5 px → 12 px wide


def test_the_brush_outline_has_the_brush_size_at_the_current_zoom(qtbot, canvas):
    canvas.set_view(View(2.0, 10.0, 20.0))
    canvas.set_brush_size(40)  # 20 image px radius = 40 widget px at 200%
    qtbot.mouseMove(canvas, QPoint(150, 150))
    grabbed = canvas.grab().toImage()
    on_circle = grabbed.pixelColor(150 + 40, 150)
    inside = grabbed.pixelColor(150 + 20, 150)
    assert (inside.red(), inside.green(), inside.blue()) == GREY
    assert on_circle.red() != GREY[0]  # the ring is drawn at 40 px from the mouse


def test_feather_preview_shows_the_softened_mask_without_changing_it(canvas):
    canvas.set_mask(square_mask())  # columns 40..79
    canvas.set_overlay_color(QColor(255, 0, 0))
    canvas.set_overlay_opacity(1.0)
    just_inside, just_outside = (10 + 41, 20 + 45), (10 + 37, 20 + 45)
    assert rgb_at(canvas, *just_inside) == (255, 0, 0)
    canvas.set_feather_preview(blur_px=4, grow_px=0, enabled=True)
    red, green, _ = rgb_at(canvas, *just_inside)
    assert red < 200 and green > 40  # the soft edge: grey shows through
    assert rgb_at(canvas, *just_outside) == GREY  # and it stays inside what was painted
    np.testing.assert_array_equal(canvas.mask(), square_mask())
    canvas.set_feather_preview(blur_px=4, grow_px=8, enabled=True)  # grown past it
    assert rgb_at(canvas, *just_outside)[0] > 200
    canvas.set_feather_preview(4, 8, enabled=False)
    assert rgb_at(canvas, *just_outside) == GREY


def test_fit_to_window_shows_the_whole_image_and_100_percent_is_one_to_one(canvas):
    canvas.set_image(np.full((600, 800, 3), 200, np.uint8))  # bigger than the 400x300 widget
    view = canvas.view()
    left, top = view.to_widget(0, 0)
    right, bottom = view.to_widget(800, 600)
    assert left >= 0 and top >= 0 and right <= 400 and bottom <= 300
    assert max(right - left, bottom - top) > 350  # and uses the room it has
    canvas.zoom_to_100()
    assert canvas.zoom() == 1.0
