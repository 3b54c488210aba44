"""The Preferences dialog: folders, device, precision and how often previews are drawn.

Folders go to the settings; device, precision and preview interval go to the document, because every
request carries them (the worker reloads the model when device or precision change). An output folder
that cannot be written is refused here, with the reason, before any image is lost to it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ldm_studio.engine.requests import PRECISIONS
from ldm_studio.gui.document import DEVICES, Document, is_device_name
from ldm_studio.gui.settings import Settings


def folder_problem(folder: Path) -> str:
    """Why images cannot be written into `folder` ("" when they can); creates it if missing."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=folder)
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(probe)
    except OSError as exc:
        return f"Images cannot be saved in {folder}: {exc.strerror or exc}."
    return ""


def _ask_folder(parent: QWidget, title: str, start: str) -> str:
    return QFileDialog.getExistingDirectory(parent, title, start)


class PreferencesDialog(QDialog):
    def __init__(self, settings: Settings, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.settings, self.document = settings, document
        self.ask_folder: Callable[[QWidget, str, str], str] = _ask_folder

        self.models_edit = QLineEdit(str(settings.models_folder))
        self.outputs_edit = QLineEdit(str(settings.outputs_folder))
        self.device_combo = QComboBox()
        self.device_combo.setEditable(True)  # "cuda:1" for a second GPU
        self.device_combo.addItems(DEVICES)
        self.device_combo.setCurrentText(document.device)
        self.precision_combo = QComboBox()
        self.precision_combo.addItems(PRECISIONS)
        self.precision_combo.setCurrentText(document.precision)
        self.preview_spin = QSpinBox()
        self.preview_spin.setRange(0, 100)
        self.preview_spin.setSpecialValueText("no previews")
        self.preview_spin.setSuffix(" steps")
        self.preview_spin.setValue(document.preview_interval)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #c0392b")

        form = QFormLayout()
        form.addRow("Models folder", self._with_browse(self.models_edit, "Models folder"))
        form.addRow("Output folder", self._with_browse(self.outputs_edit, "Output folder"))
        form.addRow("Device", self.device_combo)
        form.addRow("Precision", self.precision_combo)
        form.addRow("Preview every", self.preview_spin)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)

    def _with_browse(self, edit: QLineEdit, title: str) -> QWidget:
        button = QPushButton("Browse…")
        button.clicked.connect(lambda: self._browse(edit, title))
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(edit, stretch=1)
        layout.addWidget(button)
        return row

    def _browse(self, edit: QLineEdit, title: str) -> None:
        chosen = self.ask_folder(self, title, edit.text())
        if chosen:
            edit.setText(chosen)

    def accept(self) -> None:
        outputs = Path(self.outputs_edit.text().strip()).expanduser()
        device = self.device_combo.currentText().strip().lower()
        problem = folder_problem(outputs)
        if not problem and not is_device_name(device):
            problem = f"Unknown device {device!r}: use auto, cpu, cuda, cuda:N or mps."
        if problem:
            self.error_label.setText(problem)
            return  # stay open: the user fixes it or cancels
        self.settings.outputs_folder = outputs
        self.settings.models_folder = Path(self.models_edit.text().strip()).expanduser()
        self.document.device = device
        self.document.precision = self.precision_combo.currentText()
        self.document.preview_interval = self.preview_spin.value()
        super().accept()
