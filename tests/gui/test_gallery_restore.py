"""Clicking a gallery result shows it and offers, without a dialog, to restore its parameters."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from ldm_studio.gui.restore_offer import BUTTON
from tests.gui.fake_engine import ScriptedEngine
from tests.gui.test_main_window import press_generate, wait_done
from tests.gui.window_fixtures import make_window, temporary_settings

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def window(qtbot, tmp_path):
    settings = temporary_settings(tmp_path)
    (settings.models_folder / "mine.safetensors").write_bytes(b"sd")
    window = make_window(qtbot, tmp_path, ScriptedEngine(), settings)
    qtbot.waitUntil(lambda: len(window.models.user_entries) == 1, timeout=5000)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    return window


def type_prompt(qtbot, window, text: str) -> None:
    edit = window.prompt_panel.prompt_edit
    edit.selectAll()
    qtbot.keyClick(edit, Qt.Key.Key_Delete)
    qtbot.keyClicks(edit, text)


def click_gallery_row(qtbot, window, row: int) -> None:
    gallery = window.gallery.list
    qtbot.mouseClick(gallery.viewport(), LEFT, pos=gallery.visualItemRect(gallery.item(row)).center())


def test_clicking_an_older_result_offers_to_restore_its_parameters_and_restoring_fills_the_panel(
    qtbot, window
):
    document = window.document
    document.steps, document.sampler, document.width, document.height = 3, "euler", 192, 128
    type_prompt(qtbot, window, "a red circle")
    press_generate(qtbot, window)
    wait_done(qtbot, window)
    first = window.gallery.results[0]
    first_image = window.canvas.image().copy()

    document.model = str(window.models.user_entries[0].path)  # another model, sampler, size and prompt
    document.sampler, document.width, document.height = "heun", 256, 256
    type_prompt(qtbot, window, "a blue square")
    press_generate(qtbot, window)
    wait_done(qtbot, window)
    assert window.offers.text == ""  # a new result offers nothing: its parameters are the panel's

    click_gallery_row(qtbot, window, 1)  # the older one
    np.testing.assert_array_equal(window.canvas.image(), first_image)
    assert window.offers.isVisible() and window.offers.button(BUTTON) is not None
    assert QApplication.activeModalWidget() is None  # no dialog: the window goes on working
    assert document.prompt == "a blue square"  # nothing restored until asked

    qtbot.mouseClick(window.offers.button(BUTTON), LEFT)
    assert window.prompt_panel.prompt_edit.toPlainText() == "a red circle"
    assert (document.seed, document.seed_locked) == (first.seed, True)
    assert (document.sampler, document.width, document.height) == ("euler", 192, 128)
    assert document.model == ""  # the bundled demo it was made with
    assert not window.offers.isVisible()
    assert f"seed {first.seed}" in window.status.currentMessage()
