"""Preferences: what the user sets is kept, and an output folder that cannot be written is refused."""

from __future__ import annotations

import os

import pytest
from PySide6.QtCore import QSettings

from ldm_studio.gui.document import Document
from ldm_studio.gui.panels.preferences import PreferencesDialog
from ldm_studio.gui.settings import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


def test_accepted_preferences_reach_the_settings_and_the_next_request(qtbot, settings, tmp_path):
    document = Document()
    dialog = PreferencesDialog(settings, document)
    qtbot.addWidget(dialog)
    dialog.models_edit.clear()
    qtbot.keyClicks(dialog.models_edit, str(tmp_path / "models"))
    dialog.outputs_edit.setText(str(tmp_path / "pictures" / "ldm"))
    dialog.device_combo.setCurrentText("cuda:1")
    dialog.precision_combo.setCurrentText("fp16")
    dialog.preview_spin.setValue(5)
    dialog.accept()

    assert dialog.result() == dialog.DialogCode.Accepted
    assert settings.models_folder == tmp_path / "models"
    assert settings.outputs_folder == tmp_path / "pictures" / "ldm"
    assert (tmp_path / "pictures" / "ldm").is_dir()  # made now, so the first save cannot fail on it
    request = document.to_request(None, None)
    assert (request.device, request.precision, request.preview_interval) == ("cuda:1", "fp16", 5)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_a_read_only_output_folder_is_refused_with_the_reason(qtbot, settings, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    _check_refused(qtbot, settings, tmp_path, str(locked), "Permission denied")


def test_an_output_folder_under_a_file_is_refused_with_the_reason(qtbot, settings, tmp_path):
    (tmp_path / "file").write_text("x")
    _check_refused(qtbot, settings, tmp_path, str(tmp_path / "file" / "out"), "Not a directory")


def _check_refused(qtbot, settings, tmp_path, folder: str, reason: str) -> None:
    before = settings.outputs_folder
    dialog = PreferencesDialog(settings, Document())
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.outputs_edit.setText(folder)
    dialog.accept()
    assert dialog.isVisible()  # still open, so the user can fix it
    assert dialog.error_label.text().startswith(f"Images cannot be saved in {folder}: ")
    assert reason in dialog.error_label.text()
    assert settings.outputs_folder == before


def test_an_unknown_device_is_refused(qtbot, settings, tmp_path):
    document = Document()
    dialog = PreferencesDialog(settings, document)
    qtbot.addWidget(dialog)
    dialog.outputs_edit.setText(str(tmp_path))
    dialog.device_combo.setCurrentText("tpu")
    dialog.accept()
    assert "Unknown device 'tpu'" in dialog.error_label.text() and document.device == "auto"
