"""The prompt panel's hires fix row: a toggle, scale, upscaler and denoise that reach the request."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from tests.gui.fake_engine import ScriptedEngine
from tests.gui.test_main_window import press_generate, wait_done
from tests.gui.window_fixtures import make_window


def _type_into(qtbot, spin, text: str) -> None:
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, text)
    qtbot.keyClick(spin, Qt.Key.Key_Tab)


def test_the_hires_row_turns_on_a_second_pass_for_txt2img_only(qtbot, tmp_path):
    engine = ScriptedEngine()
    window = make_window(qtbot, tmp_path, engine)
    panel = window.prompt_panel
    window.document.steps = 1
    assert panel.hires_check.isVisibleTo(panel) and not panel.hires_row.isVisibleTo(panel)

    qtbot.mouseClick(panel.hires_check, Qt.MouseButton.LeftButton)  # its options show while it is on
    assert window.document.hires and panel.hires_row.isVisibleTo(panel)
    _type_into(qtbot, panel.hires_scale_spin, "1.5")
    _type_into(qtbot, panel.hires_denoise_spin, "0.35")
    panel.hires_upscaler_combo.setFocus()
    qtbot.keyClick(panel.hires_upscaler_combo, Qt.Key.Key_End)  # the last choice: Lanczos
    assert panel.hires_upscaler_combo.currentText() == "Lanczos"
    press_generate(qtbot, window)
    wait_done(qtbot, window)
    request = engine.runs[-1]
    assert (request.hires, request.hires_scale, request.hires_denoise) == (True, 1.5, 0.35)
    assert request.hires_upscaler == "lanczos"

    # img2img takes the input image's size and no second pass: the row goes, the request says off.
    qtbot.mouseClick(panel.mode_tabs, Qt.MouseButton.LeftButton, pos=panel.mode_tabs.tabRect(1).center())
    assert window.document.mode == "img2img" and not panel.hires_row.isVisibleTo(panel)
    assert not panel.hires_check.isVisibleTo(panel)
    window.canvas.set_image(np.zeros((64, 64, 3), np.uint8))
    press_generate(qtbot, window)
    wait_done(qtbot, window)
    assert engine.runs[-1].mode == "img2img" and not engine.runs[-1].hires


def test_the_status_bar_names_the_second_pass_while_it_runs(qtbot, tmp_path):
    engine = ScriptedEngine(stage_after_step=2, pause_at_step=3)
    window = make_window(qtbot, tmp_path, engine)
    window.document.steps = 5
    window.document.hires = True
    press_generate(qtbot, window)
    qtbot.waitUntil(engine.reached_pause.is_set, timeout=5000)
    bar = window.status.progress_bar
    qtbot.waitUntil(lambda: bar.value() == 3, timeout=5000)
    assert bar.text().startswith("Hires fix: Step 3/5")
    engine.gate.set()
    wait_done(qtbot, window)
