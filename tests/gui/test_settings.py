"""Settings persist between runs, in a store the test owns (never the real user's)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from ldm_studio.gui.document import Document
from ldm_studio.gui.settings import Settings


def open_settings(path: Path) -> Settings:
    return Settings(QSettings(str(path), QSettings.Format.IniFormat))


def test_folders_parameters_and_geometry_survive_a_restart(tmp_path):
    file = tmp_path / "settings.ini"
    settings = open_settings(file)
    settings.models_folder = tmp_path / "my models"
    settings.outputs_folder = tmp_path / "out"
    settings.document = Document(prompt="a red circle", steps=33, device="cpu", precision="fp32").values()
    settings.window_geometry = QByteArray(b"\x01\x02geometry")
    settings.sync()
    del settings

    again = open_settings(file)
    restored = Document()
    restored.update(again.document, strict=False)
    assert again.models_folder == tmp_path / "my models"
    assert again.outputs_folder == tmp_path / "out"
    assert (restored.prompt, restored.steps, restored.device, restored.precision) == (
        "a red circle",
        33,
        "cpu",
        "fp32",
    )
    assert bytes(again.window_geometry.data()) == b"\x01\x02geometry"


def test_defaults_are_platform_folders_and_a_damaged_entry_is_ignored(tmp_path):
    settings = open_settings(tmp_path / "settings.ini")
    assert settings.models_folder.name == "models"
    assert settings.outputs_folder.name == "ldm_studio"
    settings.store.setValue("document/values", "{not json")
    assert settings.document == {}
    assert settings.window_geometry is None


def test_a_remembered_model_hash_is_forgotten_when_the_file_changes(tmp_path):
    settings = open_settings(tmp_path / "settings.ini")
    checkpoint = tmp_path / "model.safetensors"
    checkpoint.write_bytes(b"weights")
    settings.remember_model_hash(checkpoint, "abcdef0123")
    assert settings.model_hash(checkpoint) == "abcdef0123"
    checkpoint.write_bytes(b"other weights")
    assert settings.model_hash(checkpoint) is None
