"""SDXL in the window on the real engine: a tiny random-weight SDXL base and refiner in the models folder,
chosen through the models panel, generated with live previews and a refiner hand-off from the prompt panel."""

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

RUN_MS = 240_000  # generous: 2 shared CPU cores, two models to load


@pytest.fixture(scope="module")
def sdxl_files(tmp_path_factory) -> tuple[Path, Path]:
    from tests.adapter_files import write_lora
    from tests.sdxl_checkpoints import tiny_sdxl_state_dict, write_tiny_sdxl_checkpoint

    folder = tmp_path_factory.mktemp("models")
    files = (
        write_tiny_sdxl_checkpoint(folder / "tiny-xl.safetensors", "sdxl"),
        write_tiny_sdxl_checkpoint(folder / "tiny-xl-refiner.safetensors", "sdxl-refiner"),
    )
    # An SDXL LoRA on two of the tiny UNet's layers, in loras/ inside the models folder.
    state = tiny_sdxl_state_dict("sdxl")
    layers = ("input_blocks.4.1.transformer_blocks.0.attn2.to_k", "input_blocks.4.1.proj_in")
    shapes = {"lora_unet_" + m.replace(".", "_"): tuple(state[f"model.diffusion_model.{m}.weight"].shape)
              for m in layers}  # fmt: skip
    (folder / "loras").mkdir()
    write_lora(
        folder / "loras" / "xl-style.safetensors", shapes, metadata={"ss_base_model_version": "sdxl_base"}
    )
    return files


@pytest.fixture
def window(qtbot, tmp_path, sdxl_files):
    settings = temporary_settings(tmp_path)
    settings.models_folder = sdxl_files[0].parent
    window = MainWindow(settings, models=ModelList(settings))  # the real engine and checkpoint inspection
    qtbot.addWidget(window, before_close_func=lambda w: w.runner.shutdown())
    window.show()
    qtbot.waitUntil(lambda: not window.models.scanning and len(window.models.entries) == 3, timeout=RUN_MS)
    window.document.device = "cpu"
    return window


def click_model_row(window, path: Path) -> None:
    tree = window.models_panel.tree
    items = [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
    (item,) = [i for i in items if i.data(0, Qt.ItemDataRole.UserRole).path == path]
    tree.itemClicked.emit(item, 0)


def test_a_tiny_sdxl_file_chosen_in_the_models_panel_generates_with_previews_and_the_refiner(
    qtbot, window, sdxl_files, tmp_path
):
    base, refiner = sdxl_files
    assert window.models.entry_for(str(base)).family == "sdxl"
    click_model_row(window, base)
    document, panel = window.document, window.prompt_panel
    assert document.model == str(base)
    assert panel.size_presets_combo.itemText(1) == "1024 × 1024" and panel.refiner_row.isVisible()
    assert panel.refiner_combo.itemText(1) == "tiny-xl-refiner"

    document.update({"width": 64, "height": 64, "steps": 4, "prompt": "a red circle"})
    assert panel.size_note.isVisible()  # 64² is far below the model's own 1024²
    panel.refiner_combo.activated.emit(1)
    document.refiner_switch = 0.5
    assert document.refiner == str(refiner)
    job = window.generate()
    assert job is not None
    qtbot.waitUntil(
        lambda: not window.runner.busy and window.runner.queue.next_queued() is None, timeout=RUN_MS
    )

    assert window.notice.kind != "error", window.notice.text
    assert window.previews_shown >= 4  # the base's steps and the refiner's
    assert len(window.gallery.results) == 1
    [saved] = (tmp_path / "outputs").glob("*.png")
    with Image.open(saved) as image:
        assert image.size == (64, 64)
        text = image.text["parameters"]
    assert "Refiner: tiny-xl-refiner [" in text and "Refiner switch at: 0.5" in text
    assert read_png_request(saved).prompt == "a red circle"
    assert window.canvas.image().shape == (64, 64, 3)


def test_a_lora_clicked_in_the_loras_panel_is_merged_by_the_real_engine(qtbot, window, sdxl_files, tmp_path):
    click_model_row(window, sdxl_files[0])
    panel = window.adapters_panel
    qtbot.waitUntil(lambda: not panel.scanning and len(panel.items("lora")) == 1, timeout=RUN_MS)
    (item,) = panel.items("lora")
    assert item.text(1) == "SDXL" and "is for" not in item.toolTip(0)  # offered for the SDXL base
    window.document.update({"width": 64, "height": 64, "steps": 2, "prompt": "a red circle"})
    panel.tree.itemClicked.emit(item, 0)
    panel.weight_slider.setValue(70)
    assert window.document.prompt == "a red circle <lora:xl-style:0.7>"
    assert window.generate() is not None
    qtbot.waitUntil(
        lambda: not window.runner.busy and window.runner.queue.next_queued() is None, timeout=RUN_MS
    )

    assert window.notice.kind != "error", window.notice.text
    [saved] = (tmp_path / "outputs").glob("*.png")
    with Image.open(saved) as image:
        text = image.text["parameters"]
    assert text.startswith("a red circle <lora:xl-style:0.7>") and 'Lora hashes: "xl-style: ' in text
