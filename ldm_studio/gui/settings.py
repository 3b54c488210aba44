"""What the app remembers between runs: folders, device choices, the last parameters, window geometry.

Backed by QSettings, with the default folders where the platform expects them (QStandardPaths). The
store is handed in, never global: tests give a QSettings on a temporary INI file, so a test run never
reads or writes the real user's settings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, QStandardPaths

APP_NAME = "ldm_studio"
ORGANIZATION = "ldm_studio"


def default_models_folder() -> Path:
    data = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    return Path(data or Path.home() / ".ldm_studio") / "models"


def default_outputs_folder() -> Path:
    pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    return Path(pictures or Path.home()) / APP_NAME


class Settings:
    """Typed access to the QSettings keys the app uses."""

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store if store is not None else QSettings(ORGANIZATION, APP_NAME)

    def _path(self, key: str, default: Path) -> Path:
        value = self.store.value(key)
        return Path(value) if value else default

    @property
    def models_folder(self) -> Path:
        return self._path("folders/models", default_models_folder())

    @models_folder.setter
    def models_folder(self, folder: Path) -> None:
        self.store.setValue("folders/models", str(folder))

    @property
    def outputs_folder(self) -> Path:
        return self._path("folders/outputs", default_outputs_folder())

    @outputs_folder.setter
    def outputs_folder(self, folder: Path) -> None:
        self.store.setValue("folders/outputs", str(folder))

    @property
    def document(self) -> dict[str, Any]:
        """The last parameters, as `Document.values()` stored them (empty when none or unreadable)."""
        text = self.store.value("document/values", "")
        try:
            values = json.loads(text) if text else {}
        except (TypeError, ValueError):
            return {}  # a damaged entry must not stop the app from starting
        return values if isinstance(values, dict) else {}

    @document.setter
    def document(self, values: dict[str, Any]) -> None:
        self.store.setValue("document/values", json.dumps(values))

    @property
    def window_geometry(self) -> QByteArray | None:
        value = self.store.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    @window_geometry.setter
    def window_geometry(self, geometry: QByteArray) -> None:
        self.store.setValue("window/geometry", geometry)

    @property
    def window_state(self) -> QByteArray | None:
        value = self.store.value("window/state")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    @window_state.setter
    def window_state(self, state: QByteArray) -> None:
        self.store.setValue("window/state", state)

    def model_hash(self, path: Path) -> str | None:
        """A checkpoint's hash computed earlier, if the file has not changed since (size and mtime)."""
        entry = self.store.value(f"hashes/{_hash_key(path)}")
        if not isinstance(entry, str) or "|" not in entry:
            return None
        stamp, digest = entry.rsplit("|", 1)
        return digest if stamp == _file_stamp(path) else None

    def remember_model_hash(self, path: Path, digest: str) -> None:
        self.store.setValue(f"hashes/{_hash_key(path)}", f"{_file_stamp(path)}|{digest}")

    def sync(self) -> None:
        self.store.sync()


def _hash_key(path: Path) -> str:
    # QSettings keys treat "/" and "\\" as groups: keep the path in one flat, safe key.
    return str(path.resolve()).encode("utf-8").hex()


def _file_stamp(path: Path) -> str:
    try:
        stat = path.stat()
    except OSError:
        return ""
    return f"{stat.st_size}:{stat.st_mtime_ns}"
