"""The canvas tool bar: its buttons act on the canvas, and it follows changes made on the canvas."""

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QVBoxLayout, QWidget

from ldm_studio.gui.canvas.toolbar import CanvasToolbar, size_to_slider, slider_to_size
from ldm_studio.gui.canvas.widget import Canvas


@pytest.fixture
def bar(qtbot):
    window = QWidget()
    canvas = Canvas()
    toolbar = CanvasToolbar(canvas)
    layout = QVBoxLayout(window)
    layout.addWidget(toolbar)
    layout.addWidget(canvas)
    qtbot.addWidget(window)
    window.resize(1400, 400)
    window.show()
    qtbot.waitExposed(window)
    canvas.set_image(np.zeros((60, 80, 3), np.uint8))
    mask = np.zeros((60, 80), np.uint8)
    mask[20:40, 30:50] = 255
    canvas.set_mask(mask)
    yield toolbar  # (a generator fixture keeps `window`, and with it the tool bar, alive)


def click(qtbot, toolbar, action):
    qtbot.mouseClick(toolbar.widgetForAction(action), Qt.MouseButton.LeftButton)


def action_named(toolbar, text):
    return next(a for a in toolbar.actions() if a.text() == text)


def test_invert_button_then_undo_button(qtbot, bar):
    before = bar.canvas.mask()
    click(qtbot, bar, action_named(bar, "Invert"))
    np.testing.assert_array_equal(bar.canvas.mask(), 255 - before)
    assert bar.undo_action.isEnabled() and not bar.redo_action.isEnabled()
    click(qtbot, bar, bar.undo_action)
    click(qtbot, bar, bar.undo_action)  # the set_mask too
    assert not bar.canvas.mask().any()
    assert not bar.undo_action.isEnabled() and bar.redo_action.isEnabled()


def test_grow_button_grows_by_the_spin_box_amount(qtbot, bar):
    bar.grow_spin.setValue(3)
    click(qtbot, bar, action_named(bar, "Grow"))
    mask = bar.canvas.mask()
    assert (mask[17:43, 30:50] == 255).all() and mask[16, 40] == 0


def test_brush_size_follows_the_slider_and_the_bracket_keys(qtbot, bar):
    bar.size_slider.setValue(size_to_slider(100))
    assert bar.canvas.brush().size == 100
    bar.canvas.setFocus()
    qtbot.keyClick(bar.canvas, Qt.Key.Key_BracketRight)
    assert bar.canvas.brush().size == 120
    assert slider_to_size(bar.size_slider.value()) == pytest.approx(120, rel=0.01)
    assert bar.size_label.text() == "120 px"


def test_tool_buttons_and_keys_agree(qtbot, bar):
    click(qtbot, bar, bar.eraser_action)
    assert bar.canvas.tool() == "eraser"
    bar.canvas.setFocus()
    qtbot.keyClick(bar.canvas, Qt.Key.Key_B)
    assert bar.brush_action.isChecked() and not bar.eraser_action.isChecked()


def test_overlay_and_feather_toggles(qtbot, bar):
    click(qtbot, bar, bar.show_action)
    assert not bar.canvas.overlay_visible()
    click(qtbot, bar, bar.feather_action)
    assert bar.canvas.feather_preview()[2]
    bar.canvas.set_feather_preview(4, 0, enabled=False)  # e.g. from the main window
    assert not bar.feather_action.isChecked()
    bar.opacity_slider.setValue(20)
    assert bar.canvas.overlay_opacity() == pytest.approx(0.2)


def test_mask_files_through_the_dialogs(qtbot, bar, tmp_path, monkeypatch):
    path = tmp_path / "out.png"
    path.write_bytes(b"old")  # the save dialog asked the user already: replacing is intended
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    saved = bar.canvas.mask()
    bar.export_action.trigger()
    bar.canvas.clear_mask()
    bar.import_action.trigger()
    np.testing.assert_array_equal(bar.canvas.mask(), saved)
