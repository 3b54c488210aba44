"""Painting the mask through real mouse, pen and key events on the canvas widget."""

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QInputDevice, QPointingDevice, QTabletEvent
from PySide6.QtWidgets import QApplication

from ldm_studio.gui.canvas.view import View
from ldm_studio.gui.canvas.widget import Canvas

LEFT, MIDDLE = Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton


@pytest.fixture
def canvas(qtbot):
    canvas = Canvas()
    qtbot.addWidget(canvas)
    canvas.resize(400, 300)
    canvas.show()
    qtbot.waitExposed(canvas)
    canvas.set_image(np.full((100, 120, 3), 90, np.uint8))
    canvas.set_view(View(1.0, 10.0, 20.0))  # image pixel (x, y) is drawn at widget (10 + x, 20 + y)
    canvas.setFocus()
    return canvas


def drag(qtbot, canvas, points, button=LEFT):
    qtbot.mousePress(canvas, button, pos=QPoint(*points[0]))
    for point in points[1:]:
        qtbot.mouseMove(canvas, QPoint(*point))
    qtbot.mouseRelease(canvas, button, pos=QPoint(*points[-1]))


def distance_to_polyline(shape, points):
    """Distance of every pixel centre to the polyline through image points (independent geometry)."""
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    px, py = cols + 0.5, rows + 0.5
    best = np.full(shape, np.inf)
    for (x0, y0), (x1, y1) in zip(points, points[1:] or points, strict=False):
        vx, vy = x1 - x0, y1 - y0
        t = np.clip(((px - x0) * vx + (py - y0) * vy) / max(vx * vx + vy * vy, 1e-12), 0, 1)
        best = np.minimum(best, np.hypot(px - x0 - t * vx, py - y0 - t * vy))
    return best


def assert_stroke(mask, image_points, radius):
    distance = distance_to_polyline(mask.shape, image_points)
    assert (mask[distance <= radius - 0.5] == 255).all(), "a pixel under the brush was not painted"
    assert (mask[distance >= radius + 0.5] == 0).all(), "a pixel away from the brush was painted"


def test_a_stroke_at_100_percent_paints_the_pixels_under_the_mouse(qtbot, canvas):
    canvas.set_brush_size(5)
    drag(qtbot, canvas, [(30, 40), (60, 40), (60, 70)])
    # Widget pixel (30, 40) shows image pixel (20, 20); the stroke runs through pixel centres.
    assert_stroke(canvas.mask(), [(20.5, 20.5), (50.5, 20.5), (50.5, 50.5)], radius=2.5)
    assert canvas.mask()[20, 20] == 255 and canvas.mask()[19, 35] == 255 and canvas.mask()[17, 35] == 0


def test_a_stroke_at_zoom_3_after_a_middle_button_pan_lands_under_the_mouse(qtbot, canvas):
    canvas.set_view(View(3.0, 0.0, 0.0))
    drag(qtbot, canvas, [(200, 150), (215, 160), (230, 170)], button=MIDDLE)  # pan by (30, 20)
    assert not canvas.mask().any()  # panning paints nothing
    assert (canvas.view().offset_x, canvas.view().offset_y) == (30.0, 20.0)
    canvas.set_brush_size(4)
    widget_points = [(60, 50), (150, 50), (150, 200)]
    drag(qtbot, canvas, widget_points)
    image_points = [((x + 0.5 - 30) / 3, (y + 0.5 - 20) / 3) for x, y in widget_points]
    assert_stroke(canvas.mask(), image_points, radius=2.0)
    assert canvas.mask()[10, 20] == 255  # under widget (90, 50) → image (20.2, 10.2)


def test_space_and_drag_pans_instead_of_painting(qtbot, canvas):
    qtbot.keyPress(canvas, Qt.Key.Key_Space)
    drag(qtbot, canvas, [(100, 100), (140, 90)])
    qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    assert not canvas.mask().any()
    assert (canvas.view().offset_x, canvas.view().offset_y) == (50.0, 10.0)
    drag(qtbot, canvas, [(100, 100)])  # after releasing Space the button paints again
    assert canvas.mask()[90, 50] == 255


def test_the_eraser_clears_and_leaves_the_rest(qtbot, canvas):
    canvas.fill_mask()
    qtbot.keyClick(canvas, Qt.Key.Key_E)
    assert canvas.tool() == "eraser"
    canvas.set_brush_size(10)
    drag(qtbot, canvas, [(30, 70), (110, 70)])
    mask = canvas.mask()
    assert (mask[50, 20:100] == 0).all()
    assert (mask[0:40, :] == 255).all() and (mask[60:, :] == 255).all()


def test_painting_that_starts_and_ends_outside_the_image_is_clipped_at_the_border(qtbot, canvas):
    canvas.set_brush_size(6)
    drag(qtbot, canvas, [(-40, 60), (50, 60), (50, 300), (500, 300)])  # leaves the widget too
    mask = canvas.mask()
    assert mask.shape == (100, 120)
    assert (mask[40, 0:40] == 255).all()  # from the left border on
    assert (mask[40:100, 40] == 255).all()  # down to the bottom border
    assert_stroke(mask, [(-49.5, 40.5), (40.5, 40.5), (40.5, 280.5), (490.5, 280.5)], radius=3.0)


def test_a_fast_mouse_move_leaves_no_gap(qtbot, canvas):
    canvas.set_brush_size(3)
    drag(qtbot, canvas, [(12, 25), (125, 115)])  # one move event, 140 px diagonal
    assert_stroke(canvas.mask(), [(2.5, 5.5), (115.5, 95.5)], radius=1.5)


def test_bracket_keys_change_the_size_of_what_the_brush_paints(qtbot, canvas):
    canvas.set_brush_size(10)
    for _ in range(3):
        qtbot.keyClick(canvas, Qt.Key.Key_BracketRight)
    assert canvas.brush().size == pytest.approx(17)  # 10 → 12 → 14 → 17
    drag(qtbot, canvas, [(70, 70)])
    assert (canvas.mask()[50] == 255).sum() == 17
    qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    assert canvas.brush().size == pytest.approx(14)
    canvas.set_brush_size(1)
    qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    assert canvas.brush().size == 1  # never below one pixel


def test_undo_and_redo_keys_restore_the_exact_arrays(qtbot, canvas):
    canvas.set_brush_size(9)
    canvas.set_brush_hardness(0.2)
    drag(qtbot, canvas, [(20, 30), (90, 80)])
    first = canvas.mask()
    qtbot.keyClick(canvas, Qt.Key.Key_E)
    drag(qtbot, canvas, [(20, 80), (90, 30)])
    second = canvas.mask()
    canvas.invert_mask()
    third = canvas.mask()

    ctrl, shift = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(canvas, Qt.Key.Key_Z, ctrl)
    np.testing.assert_array_equal(canvas.mask(), second)
    qtbot.keyClick(canvas, Qt.Key.Key_Z, ctrl)
    np.testing.assert_array_equal(canvas.mask(), first)
    qtbot.keyClick(canvas, Qt.Key.Key_Z, ctrl)
    assert not canvas.mask().any() and not canvas.can_undo()
    qtbot.keyClick(canvas, Qt.Key.Key_Z, ctrl | shift)
    np.testing.assert_array_equal(canvas.mask(), first)
    qtbot.keyClick(canvas, Qt.Key.Key_Y, ctrl)
    np.testing.assert_array_equal(canvas.mask(), second)
    canvas.redo()
    np.testing.assert_array_equal(canvas.mask(), third)
    assert not canvas.can_redo()


def test_mask_changed_fires_once_per_stroke_not_per_mouse_move(qtbot, canvas):
    fired = []
    canvas.maskChanged.connect(lambda: fired.append(canvas.mask()[20, 20]))
    drag(qtbot, canvas, [(30, 40), (40, 40), (50, 40), (60, 40)])
    assert fired == [255]  # once, and after the pixels are in the mask


@pytest.fixture
def pen(qapp):
    # Kept alive by the fixture: a tablet event only points at its device.
    return QPointingDevice(
        "test pen",
        7,
        QInputDevice.DeviceType.Stylus,
        QPointingDevice.PointerType.Pen,
        QInputDevice.Capability.Position | QInputDevice.Capability.Pressure,
        1,
        2,
    )


def test_pen_pressure_scales_the_brush(canvas, pen):
    canvas.set_brush_size(20)
    strokes = {40: 1.0, 90: 0.3}  # widget row: pressure
    for y, pressure in strokes.items():
        for kind, x in (
            (QEvent.Type.TabletPress, 30),
            (QEvent.Type.TabletMove, 100),
            (QEvent.Type.TabletRelease, 100),
        ):
            buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.TabletRelease else LEFT
            point = QPointF(x, y)
            event = QTabletEvent(
                kind,
                pen,
                point,
                point,
                pressure,
                0,
                0,
                0,
                0,
                0,
                Qt.KeyboardModifier.NoModifier,
                LEFT,
                buttons,
            )
            QApplication.sendEvent(canvas, event)
    mask = canvas.mask()
    assert (mask[:50, 55] > 127).sum() == 20  # full pressure: the brush size
    assert (mask[50:, 55] > 127).sum() == 6  # 30% pressure: 30% of it
    assert canvas.can_undo()
