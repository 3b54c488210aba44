"""The X/Y/Z plot in the window, driven by keys and clicks on the scripted engine: axes typed, Run clicked,
the grid fills in cell by cell, Cancel stops it, a bad value runs nothing, a cell opens as a result."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from ldm_studio.engine.grids.compose import layout_for
from ldm_studio.engine.metadata import read_png_request
from tests.gui.fake_engine import ScriptedEngine, image_for_seed
from tests.gui.window_fixtures import make_window, temporary_settings


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine()


@pytest.fixture
def window(qtbot, tmp_path, engine):
    window = make_window(qtbot, tmp_path, engine)
    window.document.update({"prompt": "a red cat", "steps": 3, "width": 64, "height": 64})
    window.document.seed, window.document.seed_locked = 40, True
    return window


def open_plot(qtbot, window):
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    qtbot.keyClick(
        window.canvas, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    qtbot.waitUntil(window.grid_dock.isVisible, timeout=2000)
    return window.grid_panel


def type_axis(qtbot, panel, letter: str, name: str, values: str) -> None:
    combo, field = panel.names[letter], panel.values[letter]
    combo.setFocus()
    qtbot.wait(QApplication.keyboardInputInterval() + 20)  # a new search, not the last one's continuation
    qtbot.keyClicks(combo, name)  # keyboard search picks the axis whose name starts so
    assert combo.currentText() == name
    field.clear()
    qtbot.keyClicks(field, values)


def click_run(qtbot, panel) -> None:
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)


def test_typed_axes_run_as_ordinary_jobs_and_the_grid_fills_in_and_is_saved(qtbot, window, engine, tmp_path):
    panel = open_plot(qtbot, window)
    type_axis(qtbot, panel, "X", "cfg", "3, 5, 7")
    type_axis(qtbot, panel, "Y", "prompt_sr", "red, blue")
    previews = []
    with qtbot.waitSignal(window.runner.idle, timeout=10000):
        click_run(qtbot, panel)
        panel.grid_run.cellPreview.connect(lambda index, image: previews.append(index))
    run = panel.grid_run
    qtbot.waitUntil(lambda: "Grid saved" in panel.status.text(), timeout=10000)
    assert run.state == "finished"
    [path] = (tmp_path / "outputs" / "grids").iterdir()
    assert [(r.cfg_scale, r.prompt.split()[1]) for r in engine.runs] == [
        (3, "red"), (5, "red"), (7, "red"), (3, "blue"), (5, "blue"), (7, "blue"),
    ]  # fmt: skip
    assert sorted(set(previews)) == list(range(6)) and len(previews) == 6 * 3  # every step of every cell
    assert all(cell.state == "done" and not cell.pixmap().isNull() for cell in panel.view.cells)
    # each cell is an ordinary result: saved in the outputs folder with its own parameters, in the gallery
    cells = sorted((tmp_path / "outputs").glob("*.png"))
    assert [read_png_request(p).cfg_scale for p in cells] == [3, 5, 7, 3, 5, 7]
    assert window.gallery.list.count() == 6
    # the grid image, saved with the base parameters, laid out as the plan says
    with Image.open(path) as grid:
        assert grid.size == layout_for(run.plan).size
        assert grid.size[0] > 3 * 64 and grid.size[1] > 2 * 64
        assert 'X/Y/Z plot: "X: cfg=3,5,7; Y: prompt_sr=red,blue"' in grid.text["parameters"]
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()


def test_a_bad_axis_value_is_said_on_the_panel_and_nothing_runs(qtbot, window, engine, tmp_path):
    panel = open_plot(qtbot, window)
    type_axis(qtbot, panel, "X", "steps", "5, 0")
    click_run(qtbot, panel)
    assert panel.status.text().startswith("X axis steps: '0' is not a step count")
    type_axis(qtbot, panel, "X", "prompt_sr", "dog, cat")
    qtbot.keyClick(panel.values["X"], Qt.Key.Key_Return)  # Return in a values field runs too
    assert "'dog' is not in the prompt" in panel.status.text()
    assert engine.runs == [] and window.runner.queue.jobs == [] and panel.grid_run is None
    assert not (tmp_path / "outputs").exists()


def test_the_running_cell_shows_its_previews_and_cancel_stops_the_grid(qtbot, window, engine, tmp_path):
    engine.pause_at_step = 2
    panel = open_plot(qtbot, window)
    type_axis(qtbot, panel, "X", "seed", "1-4")
    click_run(qtbot, panel)
    run = panel.grid_run
    qtbot.waitUntil(engine.reached_pause.is_set, timeout=5000)
    qtbot.waitUntil(lambda: not panel.view.cells[0].pixmap().isNull(), timeout=5000)  # a preview, mid-run
    assert [c.state for c in panel.view.cells] == ["running", "waiting", "waiting", "waiting"]
    assert panel.cancel_button.isEnabled() and not panel.run_button.isEnabled()
    with qtbot.waitSignal(run.finished, timeout=5000) as finished:
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert finished.args[0] == "cancelled"
    assert len(engine.runs) == 1  # the queued cells never started
    assert all(c.state == "cancelled" for c in panel.view.cells)
    assert "Cancelled" in panel.status.text()
    assert not (tmp_path / "outputs" / "grids").exists()
    assert panel.run_button.isEnabled()
    # the window is ready for the next grid
    engine.pause_at_step = None
    with qtbot.waitSignal(window.runner.idle, timeout=10000):
        click_run(qtbot, panel)
    qtbot.waitUntil(lambda: panel.grid_run.state == "finished", timeout=5000)


def test_double_clicking_a_finished_cell_opens_it_as_the_working_image(qtbot, window, engine):
    panel = open_plot(qtbot, window)
    type_axis(qtbot, panel, "X", "seed", "1, 2")
    with qtbot.waitSignal(window.runner.idle, timeout=10000):
        click_run(qtbot, panel)
    qtbot.waitUntil(lambda: panel.grid_run.state == "finished", timeout=5000)
    window.canvas.set_image(np.zeros((32, 32, 3), np.uint8))
    cell = panel.view.cells[0]
    qtbot.mouseDClick(cell, Qt.MouseButton.LeftButton, pos=cell.rect().center())
    assert np.array_equal(window.canvas.image(), np.asarray(image_for_seed(1, 64, 64)))


def test_cells_of_one_model_run_together_so_each_model_loads_once(qtbot, tmp_path):
    settings = temporary_settings(tmp_path)
    for name in ("alpha", "beta"):
        (settings.models_folder / f"{name}.safetensors").write_bytes(b"sd")
    engine = ScriptedEngine()
    window = make_window(qtbot, tmp_path, engine, settings)
    qtbot.waitUntil(lambda: len(window.models.user_entries) == 2, timeout=5000)
    window.document.update({"prompt": "x", "steps": 1, "width": 64, "height": 64})
    panel = open_plot(qtbot, window)
    type_axis(qtbot, panel, "X", "model", "alpha, beta")
    type_axis(qtbot, panel, "Y", "cfg", "1, 2, 3")
    with qtbot.waitSignal(window.runner.idle, timeout=10000):
        click_run(qtbot, panel)
    qtbot.waitUntil(lambda: panel.grid_run.state == "finished", timeout=5000)
    assert [key[0].rsplit("/", 1)[-1] for key in engine.loads] == ["alpha.safetensors", "beta.safetensors"]
    assert [r.cfg_scale for r in engine.runs] == [1, 2, 3, 1, 2, 3]


def test_the_window_s_cancel_esc_stops_a_grid_too(qtbot, window, engine, tmp_path):
    engine.pause_at_step = 1
    panel = open_plot(qtbot, window)
    type_axis(qtbot, panel, "X", "steps", "2, 3, 4")
    click_run(qtbot, panel)
    qtbot.waitUntil(engine.reached_pause.is_set, timeout=5000)
    with qtbot.waitSignal(panel.grid_run.finished, timeout=5000) as finished:
        qtbot.keyClick(window.canvas, Qt.Key.Key_Escape)
    assert finished.args[0] == "cancelled" and len(engine.runs) == 1
    assert not (tmp_path / "outputs" / "grids").exists()
