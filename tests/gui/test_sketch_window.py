"""The sketch in the main window: the composite and the sketch mask go into the request, a model that
cannot inpaint says so, File ▸ Export sketch…, the sketch kept with the session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor

from ldm_studio.engine.model_scan import ModelEntry
from ldm_studio.gui.canvas.sketch_window import export_sketch
from ldm_studio.gui.canvas.toolbar import CanvasToolbar
from ldm_studio.gui.main_window import MainWindow
from ldm_studio.gui.panels.model_list import ModelList
from tests.gui.fake_engine import ScriptedEngine
from tests.gui.window_fixtures import fake_inspect, make_window, temporary_settings

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def window(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, ScriptedEngine())
    window.canvas.set_image(np.full((64, 96, 3), 100, np.uint8))
    window.canvas.zoom_to_100()
    return window


def paint(qtbot, window, xs=range(20, 41, 4), y=30, colour=(250, 10, 10)) -> None:
    """Sketch a horizontal stroke through image points (x, y) with real mouse events."""
    canvas, sketch = window.canvas, window.sketch
    sketch.set_tool("brush")
    sketch.set_color(QColor(*colour))
    canvas.set_brush_size(6)
    points = [QPoint(*map(round, canvas.view().to_widget(x, y))) for x in xs]
    qtbot.mousePress(canvas, LEFT, pos=points[0])
    for point in points[1:]:
        qtbot.mouseMove(canvas, point)
    qtbot.mouseRelease(canvas, LEFT, pos=points[-1])


def test_the_toolbar_activates_the_sketch_and_the_mask_brush_takes_the_canvas_back(window):
    window.sketch_toolbar.tool_actions["brush"].trigger()
    assert window.sketch.tool() == "brush"
    window.findChild(CanvasToolbar).brush_action.trigger()
    assert window.sketch.tool() == ""
    assert not window.sketch_toolbar.tool_actions["brush"].isChecked()


def test_image_to_image_runs_on_the_image_with_the_sketch_over_it(qtbot, window):
    paint(qtbot, window)
    window.document.mode = "img2img"
    job = window.generate()
    assert job is not None, window.notice.text
    sent = job.request.init_image
    assert tuple(sent[30, 30]) == (250, 10, 10) and tuple(sent[5, 5]) == (100, 100, 100)
    assert tuple(window.canvas.image()[30, 30]) == (100, 100, 100)  # the canvas image itself is untouched
    assert job.request.mask is None


def test_a_hidden_sketch_is_not_sent(qtbot, window):
    paint(qtbot, window)
    window.sketch_toolbar.show_action.trigger()  # hide
    window.document.mode = "img2img"
    job = window.generate()
    assert tuple(job.request.init_image[30, 30]) == (100, 100, 100)


def test_inpaint_sketch_takes_the_mask_from_the_painted_area(qtbot, window):
    paint(qtbot, window)
    window.sketch_toolbar.inpaint_action.trigger()
    window.document.mode = "img2img"  # Image→Image with Inpaint sketch becomes an inpaint
    job = window.generate()
    assert job is not None, window.notice.text
    request = job.request
    assert request.mode == "inpaint"
    assert request.mask[30, 30] == 255 and request.mask[5, 5] == 0
    assert np.array_equal(request.mask > 0, window.sketch.layer.to_rgba()[..., 3] > 0)
    assert tuple(request.init_image[30, 30]) == (250, 10, 10)

    window.document.mode = "inpaint"  # a painted mask and the sketch's area add up
    window.sketch.set_tool("")
    window.canvas.begin_stroke(80, 10)
    window.canvas.end_stroke()
    job = window.generate()
    assert job.request.mask[10, 80] == 255 and job.request.mask[30, 30] == 255


def test_a_model_that_cannot_inpaint_says_so_and_keeps_the_sketch(qtbot, tmp_path):
    def inspect(path: Path) -> ModelEntry:
        if path.name.startswith("plain"):
            return ModelEntry(path, "sd1", "SD 1.x", ("txt2img", "img2img"), (512, 512), 7.0)
        return fake_inspect(path)

    settings = temporary_settings(tmp_path)
    plain = settings.models_folder / "plain.safetensors"
    plain.write_bytes(b"x")
    models = ModelList(settings, inspect=inspect, bundled_paths=lambda: [])
    window = MainWindow(settings, engine=ScriptedEngine(), models=models)
    qtbot.addWidget(window, before_close_func=lambda w: w.runner.shutdown())
    window.show()
    qtbot.waitUntil(lambda: models.entry_for(str(plain)) is not None, timeout=5000)
    window.document.update({"model": str(plain), "mode": "img2img"})
    window.canvas.set_image(np.full((64, 96, 3), 100, np.uint8))
    window.canvas.zoom_to_100()
    paint(qtbot, window)
    before = window.sketch.layer.pixels.copy()
    window.sketch_toolbar.inpaint_action.trigger()

    assert window.generate() is None
    assert window.notice.kind == "error" and "cannot inpaint" in window.notice.text
    assert "\n" not in window.notice.text
    assert np.array_equal(window.sketch.layer.pixels, before) and window.sketch.visible()
    window.sketch_toolbar.inpaint_action.trigger()  # off: Image→Image on the sketch runs
    assert window.generate() is not None


def test_export_sketch_writes_a_png_with_alpha(qtbot, window, tmp_path):
    assert "no sketch" in export_sketch(window.sketch, tmp_path / "empty.png")
    assert not (tmp_path / "empty.png").exists()
    paint(qtbot, window)
    assert export_sketch(window.sketch, tmp_path / "sketch.png") is None
    with Image.open(tmp_path / "sketch.png") as saved:
        assert saved.mode == "RGBA" and saved.size == (96, 64)
        pixels = np.asarray(saved)
    assert tuple(pixels[30, 30]) == (250, 10, 10, 255) and pixels[5, 5, 3] == 0
    assert export_sketch(window.sketch, tmp_path / "missing" / "x.png") is not None  # one line, no crash
    assert window.export_sketch_action in window.menuBar().actions()[0].menu().actions()


def test_the_sketch_and_its_image_come_back_after_a_restart(qtbot, tmp_path):
    settings = temporary_settings(tmp_path)
    first = make_window(qtbot, tmp_path, ScriptedEngine(), settings)
    image = np.random.default_rng(1).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    first.canvas.set_image(image)
    first.canvas.zoom_to_100()
    paint(qtbot, first)
    sketch = first.sketch.layer.to_rgba()
    first.close()

    second = make_window(qtbot, tmp_path, ScriptedEngine(), temporary_settings(tmp_path))
    assert np.array_equal(second.canvas.image(), image)
    assert np.array_equal(second.sketch.layer.to_rgba(), sketch) and second.sketch.visible()
    second.sketch.clear()
    second.close()

    third = make_window(qtbot, tmp_path, ScriptedEngine(), temporary_settings(tmp_path))
    assert third.canvas.image() is None  # an empty sketch keeps nothing
