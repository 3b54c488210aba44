"""Results as undoable canvas steps, driven by real key and mouse events: one Ctrl+Z order for images
and mask strokes, Edit menu texts that say what will be undone, the memory bound, and the view."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from ldm_studio.gui.canvas.history_steps import ImageSteps, new_step
from ldm_studio.gui.canvas.view import View
from ldm_studio.gui.canvas.widget import Canvas
from tests.gui.fake_engine import ScriptedEngine
from tests.gui.test_main_window import press_generate, wait_done
from tests.gui.window_fixtures import make_window

CTRL, SHIFT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
LEFT, MIDDLE = Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton


@pytest.fixture
def canvas(qtbot):
    canvas = Canvas()
    qtbot.addWidget(canvas)
    canvas.resize(400, 300)
    canvas.show()
    qtbot.waitExposed(canvas)
    canvas.set_image(np.full((100, 120, 3), 10, np.uint8))
    canvas.set_view(View(1.0, 10.0, 20.0))  # image pixel (x, y) at widget (10 + x, 20 + y)
    canvas.setFocus()
    return canvas


def drag(qtbot, widget, points, button=LEFT):
    qtbot.mousePress(widget, button, pos=QPoint(*points[0]))
    for point in points[1:]:
        qtbot.mouseMove(widget, QPoint(*point))
    qtbot.mouseRelease(widget, button, pos=QPoint(*points[-1]))


def image(value: int, shape=(100, 120)) -> np.ndarray:
    return np.full((*shape, 3), value, np.uint8)


def test_ctrl_z_walks_back_through_strokes_and_results_and_redo_walks_forward(qtbot, canvas):
    drag(qtbot, canvas, [(30, 40), (80, 40)])
    mask_a = canvas.mask()
    canvas.place_image(image(20))  # a result
    assert not canvas.mask().any() and canvas.undo_label() == "Result"
    drag(qtbot, canvas, [(30, 90), (30, 110)])
    mask_b = canvas.mask()
    assert mask_b.any() and canvas.undo_label() == "Brush stroke"

    qtbot.keyClick(canvas, Qt.Key.Key_Z, CTRL)  # B's stroke first
    assert canvas.image()[0, 0, 0] == 20 and not canvas.mask().any()
    qtbot.keyClick(canvas, Qt.Key.Key_Z, CTRL)  # then the image before the result, with its mask
    assert canvas.image()[0, 0, 0] == 10
    np.testing.assert_array_equal(canvas.mask(), mask_a)
    qtbot.keyClick(canvas, Qt.Key.Key_Z, CTRL)  # then A's own stroke
    assert not canvas.mask().any() and not canvas.can_undo()

    qtbot.keyClick(canvas, Qt.Key.Key_Z, CTRL | SHIFT)
    np.testing.assert_array_equal(canvas.mask(), mask_a)
    qtbot.keyClick(canvas, Qt.Key.Key_Y, CTRL)
    assert canvas.image()[0, 0, 0] == 20 and not canvas.mask().any()
    qtbot.keyClick(canvas, Qt.Key.Key_Y, CTRL)
    np.testing.assert_array_equal(canvas.mask(), mask_b)
    assert not canvas.can_redo()


def test_a_new_stroke_after_undoing_a_result_drops_the_result_ahead(qtbot, canvas):
    canvas.place_image(image(20))
    qtbot.keyClick(canvas, Qt.Key.Key_Z, CTRL)
    assert canvas.image()[0, 0, 0] == 10 and canvas.can_redo()
    drag(qtbot, canvas, [(30, 40), (50, 40)])
    assert not canvas.can_redo()
    qtbot.keyClick(canvas, Qt.Key.Key_Y, CTRL)
    assert canvas.image()[0, 0, 0] == 10  # nothing ahead any more


def test_a_result_placed_with_the_mask_kept_starts_from_that_mask_in_one_undo(qtbot, canvas):
    drag(qtbot, canvas, [(30, 40), (80, 40)])
    kept = canvas.mask()
    canvas.place_image(image(30), mask=kept)
    np.testing.assert_array_equal(canvas.mask(), kept)
    qtbot.keyClick(canvas, Qt.Key.Key_Z, CTRL)  # straight back to the image before: the mask is no step
    assert canvas.image()[0, 0, 0] == 10


def test_the_steps_are_bounded_by_bytes_and_forget_the_oldest_first():
    one = new_step(image(1)).nbytes
    steps = ImageSteps(budget_bytes=3 * one)
    for value in range(6):
        steps.push(new_step(image(value)), "Result")
    assert steps.nbytes <= 3 * one
    current = new_step(image(99))
    seen = []
    while steps.can_undo():
        current = steps.undo(current)
        seen.append(int(current.image[0, 0, 0]))
    assert seen == [5, 4, 3]  # the three newest are kept, newest first


def test_a_result_of_the_same_size_keeps_zoom_and_position_another_size_is_fitted(qtbot, canvas):
    qtbot.keyClick(canvas, Qt.Key.Key_1, CTRL)  # 100%
    drag(qtbot, canvas, [(200, 150), (230, 170)], button=MIDDLE)  # pan
    view = canvas.view()
    canvas.place_image(image(40))
    assert canvas.view() == view
    canvas.place_image(image(50, shape=(30, 40)))
    assert canvas.view() != view and canvas.zoom() > 1.0  # a small image is enlarged to the canvas
    qtbot.keyClick(canvas, Qt.Key.Key_Z, CTRL)  # back to the 100×120 image: fitted again
    assert canvas.image().shape[:2] == (100, 120)
    qtbot.keyClick(canvas, Qt.Key.Key_1, CTRL)
    assert canvas.zoom() == 1.0
    qtbot.keyClick(canvas, Qt.Key.Key_0, CTRL)
    assert canvas.zoom() == pytest.approx(min((400 - 16) / 120, (300 - 16) / 100))


# -- in the window -------------------------------------------------------------------------------


@pytest.fixture
def window(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, ScriptedEngine())
    window.document.steps = 1
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    return window


def generate(qtbot, window) -> np.ndarray:
    press_generate(qtbot, window)
    wait_done(qtbot, window)
    return window.canvas.image().copy()


def test_in_the_window_undo_goes_to_the_canvas_unless_a_text_field_has_focus(qtbot, window):
    first = generate(qtbot, window)
    second = generate(qtbot, window)
    assert not np.array_equal(first, second)
    assert window.undo_action.text() == "Undo result"

    prompt = window.prompt_panel.prompt_edit
    prompt.setFocus()
    qtbot.waitUntil(prompt.hasFocus, timeout=2000)
    qtbot.keyClicks(prompt, "a cat")
    assert window.undo_action.text() == "Undo typing"
    qtbot.keyClick(prompt, Qt.Key.Key_Z, CTRL)
    assert prompt.toPlainText() != "a cat"  # the field's own undo
    np.testing.assert_array_equal(window.canvas.image(), second)  # the canvas untouched

    window.gallery.list.setFocus()  # neither canvas nor text: the window's Edit ▸ Undo acts on the canvas
    qtbot.waitUntil(window.gallery.list.hasFocus, timeout=2000)
    assert window.undo_action.text() == "Undo result"
    qtbot.keyClick(window.gallery.list, Qt.Key.Key_Z, CTRL)
    np.testing.assert_array_equal(window.canvas.image(), first)
    assert window.redo_action.text() == "Redo result"
    qtbot.keyClick(window.gallery.list, Qt.Key.Key_Y, CTRL)
    np.testing.assert_array_equal(window.canvas.image(), second)


def test_the_edit_menu_says_stroke_after_painting(qtbot, window):
    generate(qtbot, window)  # the first result replaces the grey stand-in: no step to go back to
    assert window.undo_action.text() == "Undo" and not window.undo_action.isEnabled()
    generate(qtbot, window)
    canvas = window.canvas
    canvas.setFocus()
    qtbot.waitUntil(canvas.hasFocus, timeout=2000)
    centre = canvas.rect().center()
    drag(qtbot, canvas, [(centre.x(), centre.y()), (centre.x() + 20, centre.y())])
    assert canvas.mask().any()
    assert window.undo_action.text() == "Undo stroke"
    qtbot.keyClick(canvas, Qt.Key.Key_Z, CTRL)
    assert window.undo_action.text() == "Undo result" and window.redo_action.text() == "Redo stroke"


def test_the_view_menu_names_its_keys_and_they_work_from_anywhere(qtbot, window):
    generate(qtbot, window)
    assert window.fit_action.shortcut().toString() == "Ctrl+0"
    assert window.actual_size_action.shortcut().toString() == "Ctrl+1"
    menus = [a.text() for a in window.menuBar().actions()]
    assert "&View" in menus
    window.gallery.list.setFocus()
    qtbot.waitUntil(window.gallery.list.hasFocus, timeout=2000)
    qtbot.keyClick(window.gallery.list, Qt.Key.Key_1, CTRL)
    assert window.canvas.zoom() == 1.0
    qtbot.keyClick(window.gallery.list, Qt.Key.Key_0, CTRL)
    assert window.canvas.zoom() > 1.0  # the 128-px demo result enlarged to fill the canvas
