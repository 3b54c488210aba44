"""The compare view: a divider dragged with the mouse shows the first image left of it, the second right."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from ldm_studio.gui.panels.compare import CompareDialog, SliderCompare
from ldm_studio.gui.qt_images import array_to_qimage, qimage_to_array
from tests.gui.fake_engine import ScriptedEngine
from tests.gui.window_fixtures import make_window

RED, BLUE = (220, 20, 20), (20, 20, 220)


def solid(colour, size=(64, 64)) -> QImage:
    return array_to_qimage(np.full((size[1], size[0], 3), colour, np.uint8))


def drag(widget, start: QPoint, end: QPoint) -> None:
    QTest.mousePress(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    steps = 5
    for i in range(1, steps + 1):  # moves with the button held, as a hand drags
        pos = QPointF(start + (end - start) * (i / steps))
        move = QMouseEvent(
            QMouseEvent.Type.MouseMove,
            pos,
            widget.mapToGlobal(pos),
            Qt.MouseButton.NoButton,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(widget, move)
    QTest.mouseRelease(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)


def colour_at(widget, x: int, y: int) -> tuple[int, int, int]:
    return tuple(int(v) for v in qimage_to_array(widget.grab().toImage())[y, x])


@pytest.fixture
def slider(qtbot):
    widget = SliderCompare(solid(RED), solid(BLUE))
    qtbot.addWidget(widget)
    widget.resize(200, 200)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_dragging_the_divider_moves_the_boundary_between_the_images(qtbot, slider):
    assert colour_at(slider, 90, 100) == RED and colour_at(slider, 110, 100) == BLUE  # starts in the middle
    with qtbot.waitSignal(slider.dividerMoved):
        drag(slider, QPoint(100, 100), QPoint(150, 120))
    assert slider.divider == pytest.approx(0.75, abs=0.01)
    assert colour_at(slider, 140, 100) == RED and colour_at(slider, 160, 100) == BLUE
    drag(slider, QPoint(150, 100), QPoint(30, 100))
    assert colour_at(slider, 20, 100) == RED and colour_at(slider, 40, 100) == BLUE
    assert colour_at(slider, 140, 100) == BLUE  # where the first image was a moment ago
    drag(slider, QPoint(30, 100), QPoint(-50, 100))  # past the edge: all of the second image
    assert slider.divider == 0.0 and colour_at(slider, 2, 100) == BLUE


def test_a_move_without_the_button_held_does_not_move_the_divider(qtbot, slider):
    QTest.mouseMove(slider, QPoint(20, 100))
    assert slider.divider == 0.5


def test_arrow_keys_nudge_the_divider(qtbot, slider):
    slider.setFocus()
    qtbot.keyClick(slider, Qt.Key.Key_Left)
    assert slider.divider == pytest.approx(0.48)


def test_a_second_image_of_another_size_fills_the_same_rectangle(qtbot):
    widget = SliderCompare(solid(RED, (64, 32)), solid(BLUE, (128, 64)))
    qtbot.addWidget(widget)
    widget.resize(200, 200)
    widget.show()
    rect = widget.image_rect()
    assert (rect.width(), rect.height()) == (200, 100)  # the first image's aspect ratio
    assert colour_at(widget, 150, 60) == BLUE and colour_at(widget, 150, 20) != BLUE  # above it: background


def test_compare_two_gallery_results_picked_with_ctrl_click(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, ScriptedEngine())
    window.document.update({"batch_size": 2, "seed": 5, "seed_locked": True, "steps": 2})
    window.generate()
    qtbot.waitUntil(lambda: len(window.gallery.results) == 2, timeout=5000)
    gallery = window.gallery.list
    for row, modifier in ((0, Qt.KeyboardModifier.NoModifier), (1, Qt.KeyboardModifier.ControlModifier)):
        rect = gallery.visualItemRect(gallery.item(row))
        QTest.mouseClick(gallery.viewport(), Qt.MouseButton.LeftButton, modifier, rect.center())
    assert len(gallery.selectedIndexes()) == 2
    window.history.compare_action.trigger()
    dialog = window.history.compare_dialog
    assert isinstance(dialog, CompareDialog) and dialog.isVisible()
    first, second = (qimage_to_array(image)[0, 0] for image in (dialog.slider.first, dialog.slider.second))
    # The older image (the gallery's second row: seed 5) is "before", on the left.
    assert tuple(first) == (5 * 37 % 256, 5 * 91 % 256, 200) and tuple(second) == (
        6 * 37 % 256,
        6 * 91 % 256,
        200,
    )


def test_compare_two_ticked_history_results(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, ScriptedEngine())
    window.document.update({"batch_size": 2, "seed": 9, "seed_locked": True, "steps": 2})
    window.generate()
    qtbot.waitUntil(lambda: window.history.panel.list.count() == 1, timeout=5000)
    panel = window.history.panel
    row = panel.rows[0]
    assert not panel.compare_button.isEnabled()
    for tick in row.ticks:
        qtbot.mouseClick(tick, Qt.MouseButton.LeftButton)
    assert panel.compare_button.isEnabled()
    qtbot.mouseClick(panel.compare_button, Qt.MouseButton.LeftButton)
    dialog = window.history.compare_dialog
    assert dialog is not None and "seed 9" in dialog.windowTitle() and "seed 10" in dialog.windowTitle()
