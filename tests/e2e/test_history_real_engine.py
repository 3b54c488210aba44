"""The history on the real engine: a tiny checkpoint, a real run, the app closed and opened again, the
entry found by a word and restored with one click, then regenerated to the same pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from ldm_studio.gui.main_window import MainWindow
from ldm_studio.gui.panels.model_list import ModelList
from tests.gui.window_fixtures import temporary_settings

pytestmark = pytest.mark.slow

RUN_MS = 120_000  # generous: 2 shared CPU cores


def open_window(qtbot, settings) -> MainWindow:
    window = MainWindow(settings, models=ModelList(settings))  # the real engine and checkpoint inspection
    qtbot.addWidget(window, before_close_func=lambda w: w.runner.shutdown())
    window.show()
    qtbot.waitUntil(lambda: not window.models.scanning and bool(window.models.entries), timeout=RUN_MS)
    return window


def generate(qtbot, window) -> None:
    window.generate()
    runner = window.runner
    qtbot.waitUntil(lambda: not runner.busy and runner.queue.next_queued() is None, timeout=RUN_MS)


def test_restart_find_restore_and_make_the_same_image_again(qtbot, tmp_path):
    from tests.checkpoints import write_tiny_checkpoint

    settings = temporary_settings(tmp_path)
    tiny = write_tiny_checkpoint(settings.models_folder / "tiny-sd1.safetensors", "sd1")
    first = open_window(qtbot, settings)
    first.document.update(
        {
            "model": str(tiny),
            "device": "cpu",
            "width": 64,
            "height": 64,
            "steps": 3,
            "prompt": "a copper kettle",
        }
    )
    first.document.update({"negative_prompt": "rust", "sampler": "euler_a", "cfg_scale": 6.0})
    generate(qtbot, first)
    entry = first.history.database.search("kettle")[0]
    assert entry.model_name == "tiny-sd1" and len(entry.model_hash) == 10  # A1111's short hash
    original = Path(entry.results[0].path)
    first.close()

    second = open_window(qtbot, settings)
    second.document.update({"model": "", "prompt": "", "negative_prompt": "", "sampler": "euler", "seed": 3})
    panel = second.history.panel
    qtbot.keyClicks(panel.search_edit, "copper")
    qtbot.waitUntil(lambda: panel.list.count() == 1 and "found" in panel.status.text(), timeout=5000)
    qtbot.mouseClick(panel.rows[0].restore_button, Qt.MouseButton.LeftButton)
    assert second.prompt_panel.prompt_edit.toPlainText() == "a copper kettle"
    assert second.document.model == str(tiny) and second.document.sampler == "euler_a"
    assert second.document.seed == entry.results[0].seed

    generate(qtbot, second)
    again = Path(second.history.database.search("kettle")[0].results[0].path)
    assert again != original
    np.testing.assert_array_equal(np.asarray(Image.open(again)), np.asarray(Image.open(original)))
