"""The ControlNet panel: files from controlnet/ with their family, settings into the request, the preview."""

import numpy as np
import pytest
from PIL import Image

from ldm_studio.gui.panels.controlnet import ControlNetPanel
from tests.controlnets import write_tiny_controlnet
from tests.gui.fake_engine import ScriptedEngine
from tests.gui.window_fixtures import make_window, temporary_settings


def _folder(models):
    folder = models / "controlnet"
    folder.mkdir(parents=True, exist_ok=True)
    write_tiny_controlnet(folder / "control_v11p_sd15_canny.safetensors", "sd1")
    write_tiny_controlnet(folder / "control_sd21_depth.safetensors", "sd2")
    return folder


@pytest.fixture
def panel(qtbot, tmp_path):
    _folder(tmp_path)
    widget = ControlNetPanel()
    qtbot.addWidget(widget)
    widget.set_folder(tmp_path)
    return widget


def _square() -> np.ndarray:
    image = np.full((48, 64, 3), 20, np.uint8)
    image[12:36, 16:48] = 230
    return image


def test_files_are_listed_with_kind_and_other_families_marked(panel):
    panel.set_model_family("sd1-inpaint")
    labels = [panel.model.itemText(i) for i in range(panel.model.count())]
    assert labels == ["control_sd21_depth (depth) — not for this model", "control_v11p_sd15_canny (canny)"]


def test_the_settings_go_into_the_unit_and_the_canvas_is_copied(panel):
    assert panel.units(_square()) == ()  # unchecked: no ControlNet
    panel.enabled.setChecked(True)
    panel.model.setCurrentIndex(1)
    panel.source.setCurrentText("Current canvas")
    panel.module.setCurrentText("canny")
    panel.weight.setValue(0.6)
    panel.start.setValue(0.1)
    panel.end.setValue(0.8)
    panel.mode.setCurrentIndex(2)
    canvas = _square()
    (unit,) = panel.units(canvas)
    assert unit.file.endswith("control_v11p_sd15_canny.safetensors") and unit.image == ""
    assert (unit.module, unit.weight, unit.start, unit.end, unit.mode) == ("canny", 0.6, 0.1, 0.8, "control")
    canvas[:] = 0
    assert unit.pixels.max() == 230  # a snapshot, not the live canvas


def test_preview_shows_the_map_at_the_generation_size(qtbot, panel):
    panel.enabled.setChecked(True)
    panel.source.setCurrentText("Current canvas")
    panel.module.setCurrentText("canny")
    panel.request_preview(_square(), 128, 96)
    qtbot.waitUntil(lambda: panel.status.text().startswith("What the model sees"), timeout=20000)
    assert panel.status.text() == "What the model sees at 128x96" and not panel.preview.pixmap().isNull()
    panel.module.setCurrentText("depth")
    panel.request_preview(_square(), 128, 96)
    qtbot.waitUntil(lambda: "annotator" in panel.status.text(), timeout=20000)


def test_generate_carries_the_controlnet_in_the_request(qtbot, tmp_path):
    settings = temporary_settings(tmp_path)
    _folder(settings.models_folder)
    image = tmp_path / "edges.png"
    Image.fromarray(_square()).save(image)
    engine = ScriptedEngine()
    window = make_window(qtbot, tmp_path, engine, settings)
    panel = window.controlnet_panel
    assert panel.model.count() == 2
    panel.enabled.setChecked(True)
    panel.model.setCurrentIndex(1)
    panel.set_image_path(str(image))
    panel.weight.setValue(0.7)
    window.document.steps = 1
    window.generate()
    qtbot.waitUntil(lambda: len(engine.runs) == 1, timeout=5000)
    (unit,) = engine.runs[0].controlnets
    assert unit.file.endswith("control_v11p_sd15_canny.safetensors") and unit.image == str(image)
    assert unit.weight == 0.7 and unit.mode == "balanced"


def test_a_dropped_pngs_controlnet_is_restored_or_said_missing(panel):
    from ldm_studio.engine.metadata.a1111 import request_from_infotext

    text = (
        "a cube\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 512x512, "
        'ControlNet 0: "Module: canny, '
        "Model: control_v11p_sd15_canny [d14c016b], Weight: 0.6, Guidance Start: 0.2, Guidance End: 0.9, "
        'Control Mode: My prompt is more important"'
    )
    assert panel.apply_units(request_from_infotext(text).controlnets) == ""
    (unit,) = panel.units(None)
    assert unit.file.endswith("control_v11p_sd15_canny.safetensors")
    assert (unit.module, unit.weight, unit.start, unit.end, unit.mode) == ("canny", 0.6, 0.2, 0.9, "prompt")
    missing = panel.apply_units(request_from_infotext(text.replace("sd15_canny", "sd15_seg")).controlnets)
    assert "control_v11p_sd15_seg is not in" in missing and not panel.enabled.isChecked()


def test_a_scribble_on_the_canvas_goes_into_the_request(qtbot, tmp_path):
    """White lines on black in the canvas (a scribble), "Current canvas" as the source: the request
    carries that picture as the control image."""
    settings = temporary_settings(tmp_path)
    _folder(settings.models_folder)
    engine = ScriptedEngine()
    window = make_window(qtbot, tmp_path, engine, settings)
    scribble = np.zeros((64, 64, 3), np.uint8)
    scribble[30:34, 8:56] = 255
    scribble[8:56, 30:34] = 255
    window.canvas.set_image(scribble)
    panel = window.controlnet_panel
    panel.enabled.setChecked(True)
    panel.model.setCurrentIndex(1)
    panel.source.setCurrentText("Current canvas")
    window.document.steps = 1
    window.generate()
    qtbot.waitUntil(lambda: len(engine.runs) == 1, timeout=5000)
    (unit,) = engine.runs[0].controlnets
    assert np.array_equal(unit.pixels, scribble) and unit.image == ""


def test_the_scribble_layer_drawn_with_the_mouse_is_the_requests_control_image(qtbot, tmp_path):
    """The Scribble tool's white-on-black map, "Scribble layer" as the source: Generate sends exactly it,
    while the canvas image stays the user's picture; an empty layer is a one-line notice and no run."""
    from tests.gui.test_scribble import scribble

    settings = temporary_settings(tmp_path)
    _folder(settings.models_folder)
    engine = ScriptedEngine()
    window = make_window(qtbot, tmp_path, engine, settings)
    window.canvas.set_image(np.full((64, 96, 3), 100, np.uint8))
    window.canvas.zoom_to_100()
    panel = window.controlnet_panel
    panel.enabled.setChecked(True)
    panel.model.setCurrentIndex(1)
    panel.source.setCurrentText("Scribble layer")
    window.document.steps = 1
    assert window.generate() is None and "Scribble" in window.notice.text  # nothing drawn yet
    assert engine.runs == []
    scribble(qtbot, window)
    drawn = window.scribble.control_pixels()
    assert window.canvas.image()[30, 30, 0] == 100  # the scribble is a control map, not paint
    window.generate()
    qtbot.waitUntil(lambda: len(engine.runs) == 1, timeout=5000)
    (unit,) = engine.runs[0].controlnets
    assert np.array_equal(unit.pixels, drawn) and unit.image == ""
    assert (unit.pixels[30, 20:41] == 255).all() and (unit.pixels[:20] == 0).all()
