"""Choosing a model: what the models panel and the selector list, and what choosing does."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt

from ldm_studio.engine.model_scan import ModelEntry
from ldm_studio.gui.document import Document
from ldm_studio.gui.panels.model_list import ModelList
from ldm_studio.gui.panels.models import (
    DEMO_NAME,
    DEMO_TXT2IMG_NAME,
    DEMO_UPSCALER_NAME,
    ModelSelector,
    ModelsPanel,
)
from ldm_studio.gui.settings import Settings

ALL_MODES = ("txt2img", "img2img", "inpaint", "upscale")


def fake_inspect(path: Path) -> ModelEntry:
    """Families by file name, so these tests need no real checkpoint."""
    if "broken" in path.name:
        return ModelEntry(path, problem=f"{path.name} is not a checkpoint: no UNet weights found")
    if path.name.startswith("demo-upscaler"):
        return ModelEntry(path, "demo-sr", "Demo upscaler", ("upscale",), (128, 128))
    if path.name.startswith("demo"):
        return ModelEntry(path, "demo-shapes", "Demo shapes", ALL_MODES[:3], (128, 128))
    return ModelEntry(path, "sd1", "Stable Diffusion 1.x", ALL_MODES, (512, 512))


@pytest.fixture
def settings(tmp_path) -> Settings:
    settings = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    settings.models_folder = tmp_path / "models"
    return settings


@pytest.fixture
def bundled(tmp_path) -> list[Path]:
    folder = tmp_path / "resources"
    folder.mkdir()
    paths = [folder / "demo-txt2img.safetensors", folder / "demo-upscaler.safetensors"]
    for path in paths:
        path.write_bytes(b"demo")
    return paths


@pytest.fixture
def models(qtbot, settings, bundled) -> ModelList:
    return ModelList(settings, inspect=fake_inspect, bundled_paths=lambda: bundled)


def scan(qtbot, models: ModelList) -> None:
    models.rescan()
    qtbot.waitUntil(lambda: not models.scanning, timeout=5000)


def make_panel(qtbot, models, settings, document=None) -> ModelsPanel:
    panel = ModelsPanel(models, document or Document(), settings)
    qtbot.addWidget(panel)
    panel.show()
    return panel


def rows(panel: ModelsPanel) -> list[list[str]]:
    tree = panel.tree
    return [[tree.topLevelItem(i).text(c) for c in range(4)] for i in range(tree.topLevelItemCount())]


def test_the_panel_lists_every_file_with_family_hash_or_the_reason(qtbot, models, settings):
    folder = settings.models_folder
    folder.mkdir()
    (folder / "v1-5.safetensors").write_bytes(b"weights")
    (folder / "broken.ckpt").write_bytes(b"junk")
    panel = make_panel(qtbot, models, settings)
    scan(qtbot, models)

    names = [row[0] for row in rows(panel)]
    assert names == [DEMO_TXT2IMG_NAME, DEMO_UPSCALER_NAME, "broken", "v1-5"]  # a row per demo model
    broken = rows(panel)[2]
    assert broken[3] == "broken.ckpt is not a checkpoint: no UNet weights found" and broken[2] == ""
    assert rows(panel)[0][3].startswith("ready: draws coloured shapes from a prompt")
    assert rows(panel)[0][3].endswith("Text → Image, Image → Image, Inpaint")
    assert rows(panel)[1][3] == "ready: enlarges an image, sharper than plain resizing: Upscale ×4"
    # A1111's short hash, computed in the background and remembered for the next start.
    expected = hashlib.sha256(b"weights").hexdigest()[:10]
    qtbot.waitUntil(lambda: "…" not in [row[2] for row in rows(panel)], timeout=5000)
    assert rows(panel)[3][2] == expected and rows(panel)[1][2] == hashlib.sha256(b"demo").hexdigest()[:10]
    assert settings.model_hash(folder / "v1-5.safetensors") == expected


def test_a_hash_remembered_from_the_last_start_is_not_computed_again(qtbot, models, settings, monkeypatch):
    """Neither by the panel nor by the engine's first generation (its infotext's Model hash)."""
    from ldm_studio.engine import file_hashes

    folder = settings.models_folder
    folder.mkdir()
    (folder / "v1-5.safetensors").write_bytes(b"weights")
    settings.remember_model_hash(folder / "v1-5.safetensors", "abcdef0123")
    read, real = [], file_hashes.sha256_of_file
    monkeypatch.setattr(file_hashes, "sha256_of_file", lambda p: read.append(Path(p).name) or real(p))
    panel = make_panel(qtbot, models, settings)
    scan(qtbot, models)
    qtbot.waitUntil(lambda: "…" not in [row[2] for row in rows(panel)], timeout=5000)  # the demo files
    assert rows(panel)[2][2] == "abcdef0123"
    assert file_hashes.short_hash(folder / "v1-5.safetensors") == "abcdef0123"
    assert "v1-5.safetensors" not in read


def test_clicking_a_model_chooses_it_and_an_unusable_one_says_why(qtbot, models, settings):
    folder = settings.models_folder
    folder.mkdir()
    (folder / "v1-5.safetensors").write_bytes(b"weights")
    (folder / "broken.ckpt").write_bytes(b"junk")
    document = Document()
    panel = make_panel(qtbot, models, settings, document)
    scan(qtbot, models)

    def click(row: int) -> None:
        item = panel.tree.topLevelItem(row)
        rect = panel.tree.visualItemRect(item)
        qtbot.mouseClick(panel.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())

    click(3)
    assert document.model == str(folder / "v1-5.safetensors")
    click(2)
    assert document.model == str(folder / "v1-5.safetensors")  # unchanged
    assert panel.hint_label.text().startswith("broken cannot be used: broken.ckpt is not a checkpoint")
    click(0)
    assert document.model == ""  # "" = the bundled demo model


def test_first_run_without_models_uses_the_demo_and_says_how_to_add_checkpoints(qtbot, models, settings):
    settings.models_folder.mkdir()
    document = Document()
    panel = make_panel(qtbot, models, settings, document)
    selector = ModelSelector(models, document)
    qtbot.addWidget(selector)
    scan(qtbot, models)
    assert selector.currentText() == DEMO_NAME and document.model == ""
    assert "No checkpoints of your own yet" in panel.hint_label.text()
    assert str(settings.models_folder) in panel.hint_label.text()


def test_a_missing_models_folder_is_explained_and_the_demo_still_works(qtbot, models, settings):
    document = Document()
    panel = make_panel(qtbot, models, settings, document)
    selector = ModelSelector(models, document)
    qtbot.addWidget(selector)
    scan(qtbot, models)
    assert "does not exist. Create it, or choose another in Preferences" in panel.hint_label.text()
    assert [selector.itemText(i) for i in range(selector.count())] == [DEMO_NAME]


def test_the_selector_lists_usable_models_and_follows_the_document(qtbot, models, settings):
    folder = settings.models_folder
    folder.mkdir()
    (folder / "v1-5.safetensors").write_bytes(b"weights")
    (folder / "broken.ckpt").write_bytes(b"junk")
    document = Document()
    selector = ModelSelector(models, document)
    qtbot.addWidget(selector)
    scan(qtbot, models)
    assert [selector.itemText(i) for i in range(selector.count())] == [DEMO_NAME, "v1-5"]
    document.model = str(folder / "v1-5.safetensors")
    assert selector.currentText() == "v1-5"
    document.model = "/elsewhere/gone.ckpt"  # remembered from an earlier session, since deleted
    assert selector.currentText() == "gone.ckpt (not found)"


def test_adding_a_dropped_checkpoint_copies_it_in_and_lists_it(qtbot, models, settings, tmp_path):
    download = tmp_path / "downloads" / "dreamy.safetensors"
    download.parent.mkdir()
    download.write_bytes(b"dreamy weights")
    panel = make_panel(qtbot, models, settings)
    scan(qtbot, models)
    messages = []
    models.message.connect(messages.append)
    models.add_files([download])
    qtbot.waitUntil(lambda: "dreamy" in [row[0] for row in rows(panel)], timeout=5000)
    assert (settings.models_folder / "dreamy.safetensors").read_bytes() == b"dreamy weights"
    assert messages[-1] == "Added dreamy.safetensors (Stable Diffusion 1.x) to the models folder"


def test_adding_an_unusable_file_says_why_it_is_not_offered(qtbot, models, settings, tmp_path):
    download = tmp_path / "broken-lora.safetensors"
    download.write_bytes(b"not a full model")
    settings.models_folder.mkdir()
    errors = []
    models.errorOccurred.connect(errors.append)
    models.add_files([download])
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert errors == [
        "Added broken-lora.safetensors, but it cannot be used: broken-lora.safetensors is not a checkpoint: "
        "no UNet weights found"
    ]


def test_choosing_another_models_folder_rescans_it(qtbot, models, settings, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "sd2.safetensors").write_bytes(b"x")
    panel = make_panel(qtbot, models, settings)
    panel.ask_folder = lambda parent, start: str(other)
    panel.change_button.click()
    qtbot.waitUntil(lambda: not models.scanning, timeout=5000)
    assert settings.models_folder == other
    assert [row[0] for row in rows(panel)] == [DEMO_TXT2IMG_NAME, DEMO_UPSCALER_NAME, "sd2"]
