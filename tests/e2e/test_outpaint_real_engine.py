"""Outpainting in the window on the real engine with the bundled demo model: a generated image is grown
by 64 px on one side with the tool bar, Generate inpaints the new area; the old pixels outside the
overlap stay bit-identical, and the saved PNG says what was done."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

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
