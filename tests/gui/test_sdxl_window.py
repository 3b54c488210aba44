"""SDXL in the window: its bucket sizes, 1024² by default, a note for a size far below, the refiner row."""

from __future__ import annotations

import pytest

from ldm_studio.gui.document import Document
from ldm_studio.gui.panels.prompt import PromptPanel
from ldm_studio.gui.panels.size_presets import SDXL_BUCKETS, size_presets, small_size_note
from tests.gui.fake_engine import ScriptedEngine
from tests.gui.window_fixtures import make_window, temporary_settings

BUCKETS = {(1024, 1024), (1152, 896), (1216, 832), (1344, 768), (1536, 640)}


def test_sdxl_presets_are_its_buckets_and_their_transposes():
    presets = size_presets((1024, 1024), "sdxl")
    assert presets[0] == (1024, 1024)
    assert set(presets) == BUCKETS | {(h, w) for w, h in BUCKETS}
    assert len(presets) == 9 == len(SDXL_BUCKETS)
    assert all(w % 64 == 0 and h % 64 == 0 for w, h in presets)
    assert set(size_presets((1024, 1024), "sdxl-refiner")) == set(presets)
    assert (1152, 896) not in size_presets((512, 512), "sd1")  # SD keeps its derived sizes


def test_the_small_size_note_speaks_only_far_below_the_trained_pixels():
    assert small_size_note((1024, 1024), (1024, 1024)) == ""
    assert small_size_note((832, 832), (1024, 1024)) == ""  # 66 % of the pixels: fine
    assert "far below" in small_size_note((512, 512), (1024, 1024))
    assert small_size_note((64, 64), None) == ""


@pytest.fixture
def panel(qtbot) -> PromptPanel:
    panel = PromptPanel(Document())
    qtbot.addWidget(panel)
    panel.show()
    return panel


def test_the_panel_shows_the_size_note_and_the_refiner_row_for_sdxl_only(panel):
    document = panel.document
    document.width = document.height = 512
    panel.set_model("sd1", (512, 512))
    assert not panel.size_note.isVisible() and not panel.refiner_row.isVisible()
    panel.set_model("sdxl", (1024, 1024))
    assert panel.size_note.isVisible() and "1024 × 1024" in panel.size_note.text()
    assert panel.refiner_row.isVisible()
    assert panel.size_presets_combo.itemText(1) == "1024 × 1024"
    document.width = document.height = 1024
    assert not panel.size_note.isVisible()
    document.mode = "inpaint"  # the engine hands off to a refiner in txt2img and img2img only
    assert not panel.refiner_row.isVisible()


def test_the_refiner_combo_writes_the_document_and_follows_it(panel):
    panel.set_model("sdxl", (1024, 1024))
    panel.set_refiners([("refiner", "/m/refiner.safetensors")])
    assert panel.refiner_combo.currentText() == "None" and panel.refiner_switch_spin.value() == 0.8
    panel.refiner_combo.activated.emit(1)
    panel.refiner_combo.setCurrentIndex(1)
    assert panel.document.refiner == "/m/refiner.safetensors"
    panel.document.refiner = ""
    assert panel.refiner_combo.currentIndex() == 0
    panel.document.refiner = "/elsewhere/gone.safetensors"  # a restored choice no longer there
    assert panel.refiner_combo.currentText() == "gone.safetensors (not found)"


def test_choosing_sdxl_in_the_window_sets_1024_and_the_refiner_goes_into_the_request(qtbot, tmp_path):
    settings = temporary_settings(tmp_path)
    base = settings.models_folder / "sdxl-base.safetensors"
    refiner = settings.models_folder / "sdxl-refiner.safetensors"
    sd = settings.models_folder / "mine.safetensors"
    for path in (base, refiner, sd):
        path.write_bytes(b"x")
    engine = ScriptedEngine()
    window = make_window(qtbot, tmp_path, engine, settings)
    qtbot.waitUntil(lambda: window.models.entry_for(str(refiner)) is not None, timeout=5000)
    window.document.model = str(refiner)  # a refiner alone: it runs, and the window says what it is for
    assert "is an SDXL refiner, meant to finish a base model's image" in window.notice.text
    window.document.model = str(base)
    assert (window.document.width, window.document.height) == (1024, 1024)
    panel = window.prompt_panel
    assert [panel.refiner_combo.itemText(i) for i in range(panel.refiner_combo.count())] == [
        "None",
        "sdxl-refiner",
    ]
    window.document.refiner = str(refiner)
    window.document.refiner_switch = 0.7
    window.document.steps = 2
    window.generate()
    qtbot.waitUntil(lambda: len(engine.runs) == 1, timeout=5000)
    request = engine.runs[0]
    assert (request.refiner, request.refiner_switch) == (str(refiner), 0.7)
    assert request.lora_dir == str(settings.models_folder / "loras")
    assert request.embeddings_dir == str(settings.models_folder / "embeddings")

    qtbot.waitUntil(lambda: not window.runner.busy, timeout=5000)
    window.document.model = str(sd)  # an SD 1.x model takes no refiner: it is left out of the request
    window.generate()
    qtbot.waitUntil(lambda: len(engine.runs) == 2, timeout=5000)
    assert engine.runs[1].refiner is None


def test_every_sampler_and_schedule_of_the_engine_is_offered(panel):
    from ldm_studio.engine.requests import SAMPLERS, SCHEDULES

    combo = panel.schedule_combo
    assert [combo.itemData(i) for i in range(combo.count())] == list(SCHEDULES)
    panel.document.schedule = "trailing"  # a dropped Lightning PNG, say
    assert combo.currentText() == "Trailing"
    assert panel.sampler_combo.count() == len(SAMPLERS) and panel.sampler_combo.findText("LCM") >= 0


def test_cfg_rescale_is_set_in_the_panel_and_travels_in_the_request(panel):
    panel.cfg_rescale_spin.setValue(0.7)
    assert panel.document.cfg_rescale == 0.7
    assert panel.document.to_request(None, None).cfg_rescale == 0.7
    panel.document.cfg_rescale = 0.0  # a PNG without it: off again
    assert panel.cfg_rescale_spin.value() == 0.0


def test_a_dropped_sdxl_png_restores_its_refiner_and_names_the_loras_we_lack(qtbot, tmp_path):
    from tests.gui.window_fixtures import drop_files, png_with_a1111_parameters

    settings = temporary_settings(tmp_path)
    base = settings.models_folder / "sdxl-base.safetensors"
    refiner = settings.models_folder / "sdxl-refiner.safetensors"
    for path in (base, refiner):
        path.write_bytes(b"x")
    (settings.models_folder / "loras").mkdir()
    (settings.models_folder / "loras" / "have.safetensors").write_bytes(b"x")
    window = make_window(qtbot, tmp_path, ScriptedEngine(), settings)
    qtbot.waitUntil(lambda: window.models.entry_for(str(refiner)) is not None, timeout=5000)
    window.document.model = str(base)
    png = png_with_a1111_parameters(
        tmp_path / "xl.png",
        "a fox <lora:have:0.8> <lora:gone:1>\nSteps: 30, Sampler: Euler, CFG scale: 5, Seed: 9, Size: 64x64, "
        "Refiner: sdxl-refiner [0123456789], Refiner switch at: 0.7, CFG Rescale: 0.7",
    )
    assert drop_files(window.canvas, [png])
    assert window.document.refiner == str(refiner) and window.document.refiner_switch == 0.7
    assert window.prompt_panel.refiner_combo.currentText() == "sdxl-refiner"
    assert window.prompt_panel.cfg_rescale_spin.value() == 0.7
    assert "LoRAs you do not have: gone." in window.notice.text and "have," not in window.notice.text
