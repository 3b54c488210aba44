"""Outpainting and the colour sketch in the window on the real engine with the bundled demo model.

Outpaint: a generated image is grown by 64 px on one side with the tool bar, Generate inpaints the new
area; the old pixels outside the overlap stay bit-identical, and the saved PNG says what was done.
Sketch: a stroke painted with the mouse, "Inpaint sketch" on, Image→Image becomes an inpaint of the
painted area only."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor

from ldm_studio.engine.checkpoints.demo_models import demo_model_path
from ldm_studio.engine.metadata import read_png_request
from ldm_studio.gui.main_window import MainWindow
from ldm_studio.gui.panels.model_list import ModelList
from tests.gui.window_fixtures import temporary_settings

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not demo_model_path("txt2img").exists(), reason="the bundled demo model is not built"),
]

RUN_MS = 120_000  # 2 shared CPU cores


@pytest.fixture
def window(qtbot, tmp_path):
    settings = temporary_settings(tmp_path)
    window = MainWindow(settings, models=ModelList(settings))  # the real engine, the bundled demo model
    qtbot.addWidget(window, before_close_func=lambda w: w.runner.shutdown())
    window.show()
    qtbot.waitUntil(lambda: not window.models.scanning and bool(window.models.entries), timeout=RUN_MS)
    window.document.update({"model": "", "device": "cpu", "width": 128, "height": 128, "steps": 3})
    window.document.update({"seed_locked": True, "seed": 7})
    return window


def wait_done(qtbot, window) -> None:
    runner = window.runner
    qtbot.waitUntil(lambda: not runner.busy and runner.queue.next_queued() is None, timeout=RUN_MS)


def test_outpaint_a_demo_image_by_64_px_on_the_right(qtbot, window, tmp_path):
    window.document.update({"mode": "txt2img", "prompt": "a red circle"})
    window.generate()
    wait_done(qtbot, window)
    assert window.notice.kind != "error", window.notice.text
    original = window.canvas.image().copy()
    assert original.shape == (128, 128, 3)

    bar = window.outpaint_toolbar
    bar.side_choice.setCurrentText("right")
    qtbot.mouseClick(bar.button_for(bar.preset_actions[64]), Qt.MouseButton.LeftButton)
    assert window.document.mode == "inpaint" and window.canvas.image().shape == (128, 192, 3)
    filled = window.canvas.image().copy()  # the new area pre-filled by edge extension
    window.document.update({"strength": 1.0, "mask_blur": 4})
    window.generate()
    wait_done(qtbot, window)

    assert window.notice.kind != "error", window.notice.text
    result = window.canvas.image()
    assert result.shape == (128, 192, 3)
    overlap = bar.overlap_field.value()
    assert overlap == 32
    untouched = 128 - overlap  # the mask is 0 left of the overlap: those pixels must be the old ones
    assert np.array_equal(result[:, :untouched], original[:, :untouched])
    assert not np.array_equal(result[:, 140:], filled[:, 140:])  # the new area was generated
    saved = sorted((tmp_path / "outputs").glob("*.png"), key=lambda p: p.stat().st_mtime)[-1]
    with Image.open(saved) as png:
        assert png.size == (192, 128)
        parameters = png.text["parameters"]
    assert "Size: 192x128" in parameters and "Denoising strength: 1," in parameters
    assert "Mask blur: 4" in parameters
    stored = read_png_request(saved)
    assert (stored.width, stored.height, stored.prompt, stored.seed) == (192, 128, "a red circle", 7)
    assert stored.mode == "inpaint"


def test_inpaint_sketch_repaints_only_the_sketched_area(qtbot, window):
    original = np.random.default_rng(5).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    canvas, sketch = window.canvas, window.sketch
    canvas.set_image(original)
    canvas.zoom_to_100()
    sketch_bar = window.sketch_toolbar
    qtbot.mouseClick(sketch_bar.widgetForAction(sketch_bar.tool_actions["brush"]), Qt.MouseButton.LeftButton)
    sketch.set_color(QColor(255, 0, 0))
    canvas.set_brush_size(10)
    points = [QPoint(*map(round, canvas.view().to_widget(x, 64))) for x in range(40, 90, 5)]
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=points[0])
    for point in points[1:]:
        qtbot.mouseMove(canvas, point)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=points[-1])
    painted = sketch.layer.painted_mask()
    assert painted[64, 60] == 255 and not painted[:50].any()
    qtbot.mouseClick(sketch_bar.widgetForAction(sketch_bar.inpaint_action), Qt.MouseButton.LeftButton)
    window.document.update({"mode": "img2img", "strength": 1.0, "mask_blur": 2, "prompt": "a red circle"})
    job = window.generate()
    wait_done(qtbot, window)

    assert window.notice.kind != "error", window.notice.text
    assert job.request.mode == "inpaint" and tuple(job.request.init_image[64, 60]) == (255, 0, 0)
    result = window.canvas.image()
    far = np.ones((128, 128), bool)
    far[48:80, 24:106] = False  # the stroke and its feathered edge
    assert np.array_equal(result[far], original[far])  # untouched pixels are bit-identical
    assert not np.array_equal(result[60:68, 50:80], original[60:68, 50:80])
    assert not sketch.visible() and not sketch.layer.is_empty()  # the result has it: kept, hidden
