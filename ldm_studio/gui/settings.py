"""What the app remembers between runs: folders, device choices, the last parameters, window geometry.

Backed by QSettings, with the default folders where the platform expects them (QStandardPaths). The
store is handed in, never global: tests give a QSettings on a temporary INI file, so a test run never
reads or writes the real user's settings.

A damaged or hand-edited file must not stop the app from starting: on opening, every key the app reads
is checked (a folder must be text, the last parameters a JSON object of finite values, not nested past
the parser); a bad key is dropped so its default applies, the file as it was is kept beside it as
`NAME.bad` (once), and `problems` says what was dropped, for the window to say once.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, QStandardPaths

from ldm_studio.engine import json_text

APP_NAME = "ldm_studio"
ORGANIZATION = "ldm_studio"


def default_models_folder() -> Path:
    data = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    return Path(data or Path.home() / ".ldm_studio") / "models"


def default_data_folder() -> Path:
    """Where the app keeps what it records (the history database, styles.csv): the app's data folder."""
    data = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    return Path(data or Path.home() / ".ldm_studio")


def default_outputs_folder() -> Path:
    pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    return Path(pictures or Path.home()) / APP_NAME


class Settings:
    """Typed access to the QSettings keys the app uses."""

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store if store is not None else QSettings(ORGANIZATION, APP_NAME)
        self.problems: list[str] = []  # one line per dropped key, read once by the window
        self._check_keys()

    def _check_keys(self) -> None:
        bad: dict[str, str] = {}
        for key in ("folders/models", "folders/outputs", "folders/data"):
            value = self.store.value(key)
            if value is not None and (not isinstance(value, str) or "\0" in value):
                bad[key] = "not a folder name"
        reason = _document_problem(self.store.value("document/values", ""))
        if reason:
            bad["document/values"] = reason
        if not bad:
            return
        kept = self._keep_copy()
        for key, why in bad.items():
            self.store.remove(key)
            self.problems.append(f"the setting {key} was damaged ({why}) and is back to its default")
        if kept:
            self.problems.append(f"the damaged settings file was kept as {kept}")

    def _keep_copy(self) -> str | None:
        name = self.store.fileName()
        if not name or not Path(name).is_file():
            return None
        copy = Path(name + ".bad")
        try:
            if not copy.exists():
                shutil.copy2(name, copy)
        except OSError:
            return None
        return str(copy)

    def problem_summary(self) -> str:
        """What was dropped when the settings were opened, as one line ("" when nothing was)."""
        return "Settings: " + "; ".join(self.problems) + "." if self.problems else ""

    def _path(self, key: str, default: Path) -> Path:
        value = self.store.value(key)
        return Path(value) if isinstance(value, str) and value else default

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
    def data_folder(self) -> Path:
        return self._path("folders/data", default_data_folder())

    @data_folder.setter
    def data_folder(self, folder: Path) -> None:
        self.store.setValue("folders/data", str(folder))

    @property
    def document(self) -> dict[str, Any]:
        """The last parameters, as `Document.values()` stored them (empty when none or unreadable)."""
        text = self.store.value("document/values", "")
        if _document_problem(text):
            return {}  # a damaged entry must not stop the app from starting
        return json_text.loads(text) if text else {}

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


def _document_problem(text: Any) -> str | None:
    """Why a stored document cannot be used, or None (an empty one is fine)."""
    if text in ("", None):
        return None
    if not isinstance(text, str):
        return "not text"
    try:
        values = json_text.loads(text)
    except json_text.JsonError as exc:
        return str(exc)
    if not isinstance(values, dict):
        return "not a set of named values"
    if not all(_plain_value(v) for v in values.values()):
        return "a value that is not a number, text or list of them"
    return None


def _plain_value(value: Any, depth: int = 0) -> bool:
    # What Document.values() writes: numbers, text, booleans, None, lists of them (loras: lists of lists).
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return depth < 2 and all(_plain_value(v, depth + 1) for v in value)
    return value is None or isinstance(value, (str, int, bool))


def _hash_key(path: Path) -> str:
    # QSettings keys treat "/" and "\\" as groups: keep the path in one flat, safe key.
    return str(path.resolve()).encode("utf-8").hex()


def _file_stamp(path: Path) -> str:
    try:
        stat = path.stat()
    except OSError:
        return ""
    return f"{stat.st_size}:{stat.st_mtime_ns}"
