"""The X/Y/Z plot in the window on the real engine (a tiny random-weight SD 1.x checkpoint): the cells run
through the real loader and pipelines, are saved with their parameters, the grid image is written, and a
size the scanned model cannot draw is refused before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt

from ldm_studio.engine.metadata import read_png_request
from ldm_studio.gui.main_window import MainWindow
from ldm_studio.gui.panels.model_list import ModelList
from tests.gui.window_fixtures import temporary_settings

pytestmark = pytest.mark.slow
RUN_MS = 120_000  # 2 shared CPU cores


@pytest.fixture
def window(qtbot, tmp_path):
    from tests.checkpoints import write_tiny_checkpoint

    settings = temporary_settings(tmp_path)
    model = write_tiny_checkpoint(settings.models_folder / "tiny-sd1.safetensors", "sd1")
    window = MainWindow(settings, models=ModelList(settings))  # the real engine and checkpoint inspection
    qtbot.addWidget(window, before_close_func=lambda w: w.runner.shutdown())
    window.show()
    qtbot.waitUntil(lambda: window.models.entry_for(str(model)) is not None, timeout=RUN_MS)
    window.document.update({"model": str(model), "device": "cpu", "width": 64, "height": 64, "steps": 2})
    window.document.update({"prompt": "a red circle", "seed": 5, "seed_locked": True})
    window.grid_action.trigger()
    return window


def test_a_grid_runs_on_the_real_engine_and_saves_cells_and_grid(qtbot, window, tmp_path):
    panel = window.grid_panel
    panel.names["X"].setCurrentText("cfg")
    qtbot.keyClicks(panel.values["X"], "1, 6")
    panel.names["Y"].setCurrentText("prompt_sr")
    qtbot.keyClicks(panel.values["Y"], "red, green")
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: "Grid saved" in panel.status.text() or "stopped" in panel.status.text(), timeout=RUN_MS
    )
    assert "Grid saved" in panel.status.text(), panel.status.text()
    cells = sorted((tmp_path / "outputs").glob("*.png"))
    assert [(read_png_request(p).cfg_scale, read_png_request(p).prompt) for p in cells] == [
        (1, "a red circle"), (6, "a red circle"), (1, "a green circle"), (6, "a green circle"),
    ]  # fmt: skip
    [grid] = (tmp_path / "outputs" / "grids").iterdir()
    width, height = Image.open(grid).size
    assert width > 2 * 64 and height > 2 * 64
    assert Path(read_png_request(grid).model).stem == "tiny-sd1"


def test_a_size_the_scanned_model_cannot_draw_is_refused_before_running(qtbot, window, tmp_path):
    panel = window.grid_panel
    panel.names["X"].setCurrentText("size")
    qtbot.keyClicks(panel.values["X"], "64x64, 72x64")  # the tiny model needs multiples of 16
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert panel.status.text().startswith(
        "X axis size: '72x64' is not a multiple of 16, which tiny-sd1 needs"
    )
    assert window.runner.queue.jobs == [] and not (tmp_path / "outputs").exists()
