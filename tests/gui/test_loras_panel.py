"""The LoRA & embeddings panel: files with family, triggers, preview; clicks and a slider edit the prompt."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from PySide6.QtCore import Qt

from ldm_studio.gui.document import Document
from ldm_studio.gui.panels.loras import AdapterPanel
from tests.adapter_files import write_lora, write_safetensors_embedding, write_sdxl_embedding
from tests.gui.fake_engine import ScriptedEngine
from tests.gui.window_fixtures import drop_files, make_window, temporary_settings

SD1_K = "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k"
XL_TE2 = "lora_te2_text_model_encoder_layers_0_self_attn_q_proj"


def make_folders(root):
    loras, embeddings = root / "loras", root / "embeddings"
    (loras / "styles").mkdir(parents=True)
    embeddings.mkdir()
    tags = json.dumps({"10_ink": {"inkstyle": 40, "lineart": 9}})
    write_lora(loras / "styles" / "ink.safetensors", {SD1_K: (8, 768)}, metadata={"ss_tag_frequency": tags})
    Image.new("RGB", (32, 24), (200, 0, 0)).save(loras / "styles" / "ink.preview.png")
    write_lora(loras / "xl_detail.safetensors", {XL_TE2: (8, 8)})
    write_safetensors_embedding(embeddings / "badhands.safetensors", torch.zeros(2, 768))
    write_sdxl_embedding(embeddings / "xlneg.safetensors", torch.zeros(1, 768), torch.zeros(1, 1280))
    return loras, embeddings


@pytest.fixture
def panel(qtbot, tmp_path) -> AdapterPanel:
    panel = AdapterPanel(Document())
    qtbot.addWidget(panel)
    panel.show()
    panel.set_folders(*make_folders(tmp_path))
    qtbot.waitUntil(lambda: not panel.scanning, timeout=5000)
    panel.set_model_family("sd1")
    return panel


def texts(items, column):
    return [item.text(column) for item in items]


def test_files_are_listed_with_family_triggers_and_preview(panel):
    loras, embeddings = panel.items("lora"), panel.items("embedding")
    assert texts(loras, 0) == ["ink", "xl_detail"]  # subfolders too, by path
    assert texts(loras, 1) == ["SD 1.x", "SDXL"]
    assert loras[0].text(2) == "inkstyle, lineart"
    assert not loras[0].icon(0).isNull() and loras[1].icon(0).isNull()  # ink.preview.png beside it
    assert texts(embeddings, 0) == ["badhands", "xlneg"] and texts(embeddings, 1) == ["SD 1.x", "SDXL"]


def test_incompatible_files_are_greyed_with_the_reason_and_a_click_inserts_nothing(panel):
    ink, xl = panel.items("lora")
    assert xl.foreground(0).color() != ink.foreground(0).color()
    assert xl.toolTip(0) == "this LoRA is for SDXL, the chosen model is SD 1.x"
    panel.tree.itemClicked.emit(xl, 0)
    assert panel.document.prompt == "" and "xl_detail cannot be used" in panel.hint_label.text()
    panel.set_model_family("sdxl")  # the other way round once an SDXL model is chosen
    ink, xl = panel.items("lora")
    assert "for SD 1.x, the chosen model is SDXL" in ink.toolTip(0) and xl.toolTip(0) != ink.toolTip(0)


def test_a_click_inserts_the_tag_and_the_slider_edits_its_weight(qtbot, panel):
    document = panel.document
    document.prompt = "a cat"
    ink = panel.items("lora")[0]
    panel.tree.itemClicked.emit(ink, 0)
    assert document.prompt == "a cat <lora:ink:1>"
    assert not panel.preview_label.pixmap().isNull()
    panel.tree.itemClicked.emit(ink, 0)  # a second click does not add a second tag
    assert document.prompt == "a cat <lora:ink:1>"
    panel.weight_slider.setValue(65)
    assert document.prompt == "a cat <lora:ink:0.65>"
    document.prompt = "<lora:ink:-0.5> a dog"  # typed (or restored): the slider follows
    assert panel.weight_slider.value() == -50
    qtbot.keyClick(panel.weight_slider, Qt.Key.Key_Right)
    assert document.prompt == "<lora:ink:-0.45> a dog"


def test_clicking_an_embedding_adds_its_word(panel):
    panel.document.prompt = "blurry"
    panel.tree.itemClicked.emit(panel.items("embedding")[0], 0)
    assert panel.document.prompt == "blurry, badhands"
    assert not panel.weight_slider.isEnabled()


def test_the_window_lists_the_models_folders_adapters_and_greys_by_the_chosen_model(qtbot, tmp_path):
    settings = temporary_settings(tmp_path)
    make_folders(settings.models_folder)
    base = settings.models_folder / "sdxl-base.safetensors"
    base.write_bytes(b"x")
    window = make_window(qtbot, tmp_path, ScriptedEngine(), settings)
    panel = window.adapters_panel
    qtbot.waitUntil(lambda: not panel.scanning and len(panel.items("lora")) == 2, timeout=5000)
    qtbot.waitUntil(lambda: window.models.entry_for(str(base)) is not None, timeout=5000)
    assert [e.name for e in window.models.user_entries] == ["sdxl-base"]  # loras/ is not listed as models
    completer = window.prompt_panel.completer  # the prompt box completes the same names
    assert (completer.loras, completer.embeddings) == (["ink", "xl_detail"], ["badhands", "xlneg"])
    window.document.model = str(base)
    ink, xl = panel.items("lora")
    assert "for SD 1.x" in ink.toolTip(0) and "for SD" not in xl.toolTip(0)


def test_notes_of_a_run_show_in_the_notice_bar(qtbot, tmp_path):
    engine = ScriptedEngine(notes=["LoRA 'ink': 3 modules found no layer of this model."])
    window = make_window(qtbot, tmp_path, engine)
    window.document.steps = 1
    window.generate()
    qtbot.waitUntil(lambda: len(window.gallery.results) == 1, timeout=5000)
    assert "3 modules found no layer" in window.notice.text


def test_a_dropped_lora_and_embedding_go_into_their_folders_not_the_models(qtbot, tmp_path):
    outside = tmp_path / "downloads"
    outside.mkdir()
    lora = write_lora(outside / "paint.safetensors", {SD1_K: (8, 768)})
    emb = write_safetensors_embedding(outside / "neg.safetensors", torch.zeros(1, 768))
    window = make_window(qtbot, tmp_path, ScriptedEngine())
    assert drop_files(window, [lora, emb])
    panel = window.adapters_panel
    qtbot.waitUntil(lambda: not panel.scanning and bool(panel.loras) and bool(panel.embeddings), timeout=5000)
    folder = window.settings.models_folder
    assert (folder / "loras" / "paint.safetensors").is_file()
    assert (folder / "embeddings" / "neg.safetensors").is_file()
    assert texts(panel.items("lora"), 0) == ["paint"] and texts(panel.items("embedding"), 0) == ["neg"]
    assert not list(folder.glob("*.safetensors"))  # nothing landed among the checkpoints
