"""Copy and paste through the clipboard with real key events, and the offer for a large image."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from ldm_studio.gui.clipboard import NO_IMAGE
from ldm_studio.gui.qt_images import array_to_qimage, qimage_to_array
from ldm_studio.gui.size_offer import KEEP, scaled_size
from tests.gui.fake_engine import ScriptedEngine
from tests.gui.window_fixtures import drop_files, make_window

CTRL, SHIFT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def window(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, ScriptedEngine())
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    window.canvas.set_image(np.full((96, 128, 3), 50, np.uint8))
    window.canvas.setFocus()
    qtbot.waitUntil(window.canvas.hasFocus, timeout=2000)
    return window


def pattern(height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(height * 1000 + width)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_ctrl_c_copies_the_canvas_image(qtbot, window):
    picture = pattern(96, 128)
    window.canvas.set_image(picture)
    qtbot.keyClick(window.canvas, Qt.Key.Key_C, CTRL)
    np.testing.assert_array_equal(qimage_to_array(QGuiApplication.clipboard().image()), picture)


def test_ctrl_v_pastes_the_clipboard_image_as_an_undoable_step(qtbot, window):
    before = window.canvas.image().copy()
    picture = pattern(64, 80)
    QGuiApplication.clipboard().setImage(array_to_qimage(picture))
    assert window.clipboard_actions.paste_action.text() == "Paste image"
    qtbot.keyClick(window.canvas, Qt.Key.Key_V, CTRL)
    np.testing.assert_array_equal(window.canvas.image(), picture)
    assert window.offers.text == ""  # 80×64 fits the demo model's 128×128: nothing to offer
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, CTRL)
    np.testing.assert_array_equal(window.canvas.image(), before)


def test_in_inpaint_mode_ctrl_v_pastes_a_mask_scaled_to_the_image(qtbot, window):
    window.document.mode = "inpaint"
    assert window.clipboard_actions.paste_action.text() == "Paste as mask"
    image_before = window.canvas.image().copy()
    mask = np.zeros((48, 64, 3), np.uint8)
    mask[:, 32:] = 255  # the right half: repaint
    QGuiApplication.clipboard().setImage(array_to_qimage(mask))
    qtbot.keyClick(window.canvas, Qt.Key.Key_V, CTRL)
    pasted = window.canvas.mask()
    assert pasted.shape == (96, 128)
    assert (pasted[:, 66:] == 255).all() and (pasted[:, :62] == 0).all()
    np.testing.assert_array_equal(window.canvas.image(), image_before)
    assert "scaled to 128×96" in window.status.currentMessage()
    qtbot.keyClick(window.canvas, Qt.Key.Key_V, CTRL | SHIFT)  # Ctrl+Shift+V: always as the image
    assert window.canvas.image().shape == (48, 64, 3)


def test_a_clipboard_without_an_image_says_so_in_one_line_and_changes_nothing(qtbot, window):
    image_before, mask_before = window.canvas.image().copy(), window.canvas.mask()
    mime = QMimeData()
    mime.setText("just some words")
    QGuiApplication.clipboard().setMimeData(mime)
    for modifiers in (CTRL, CTRL | SHIFT):
        qtbot.keyClick(window.canvas, Qt.Key.Key_V, modifiers)
        assert window.status.currentMessage() == NO_IMAGE and "\n" not in NO_IMAGE
    np.testing.assert_array_equal(window.canvas.image(), image_before)
    np.testing.assert_array_equal(window.canvas.mask(), mask_before)
    assert not window.canvas.can_undo() and window.notice.kind != "error"


def test_with_a_text_field_focused_ctrl_v_pastes_text_there(qtbot, window):
    QGuiApplication.clipboard().setText("a fox")
    image_before = window.canvas.image().copy()
    edit = window.prompt_panel.prompt_edit
    edit.setFocus()
    qtbot.waitUntil(edit.hasFocus, timeout=2000)
    qtbot.keyClick(edit, Qt.Key.Key_V, CTRL)
    assert "a fox" in edit.toPlainText()
    np.testing.assert_array_equal(window.canvas.image(), image_before)


def test_a_pasted_image_larger_than_the_model_offers_to_scale_it(qtbot, window):
    big = pattern(200, 300)
    QGuiApplication.clipboard().setImage(array_to_qimage(big))
    qtbot.keyClick(window.canvas, Qt.Key.Key_V, CTRL)
    np.testing.assert_array_equal(window.canvas.image(), big)  # shown whole first: nothing lost
    assert "300×200" in window.offers.text and "128×128" in window.offers.text
    assert QApplication.activeModalWidget() is None
    assert scaled_size(300, 200, 128, 128) == (128, 80)
    qtbot.mouseClick(window.offers.button("Scale to 128×80"), LEFT)
    assert window.canvas.image().shape == (80, 128, 3)
    assert (window.document.width, window.document.height) == (128, 80)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, CTRL)  # the full size comes back
    np.testing.assert_array_equal(window.canvas.image(), big)


def test_a_dropped_image_larger_than_the_model_offers_to_keep_its_size(qtbot, window, tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(pattern(256, 320)).save(path)
    window.document.inpaint_only_masked = False
    assert drop_files(window.canvas, [path])
    assert window.canvas.image().shape == (256, 320, 3)
    assert "photo.png is 320×256" in window.offers.text
    qtbot.mouseClick(window.offers.button(KEEP), LEFT)
    assert window.document.inpaint_only_masked and window.canvas.image().shape == (256, 320, 3)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, CTRL)  # a dropped image is a step too
    assert window.canvas.image().shape == (96, 128, 3)
