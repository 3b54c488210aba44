"""The list of models the user can choose from, as an evented model the selector and panel follow.

Scanning (a header read per file), hashing (every byte of a multi-GB file) and adding a model (a copy)
all run on short-lived daemon threads, so the window never freezes and closing it never waits for a
hash. Results come back as signals into the GUI thread; a stale scan's results are dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from ldm_studio.engine.errors import LdmError
from ldm_studio.engine.file_hashes import remember_short_hash, short_hash
from ldm_studio.engine.model_scan import (
    ModelEntry,
    add_model_file,
    bundled_model_paths,
    inspect_model,
    list_checkpoints,
)
from ldm_studio.gui.panels.loras import adapter_folders
from ldm_studio.gui.settings import Settings

BUNDLED_MISSING = "The bundled demo model is missing from resources/models: reinstall ldm_studio."


def model_value(entry: ModelEntry) -> str:
    """What the document's `model` field holds for an entry: "" means the bundled demo for the mode."""
    return "" if entry.bundled else str(entry.path)


def _bundled_entry(parts: Sequence[ModelEntry]) -> ModelEntry:
    """One entry for the demo models (the document's model ""): the text-to-image one, with the modes of
    all of them. The models panel lists `parts`, each demo file, as rows of their own."""
    if not parts:
        return ModelEntry(Path("demo"), problem=BUNDLED_MISSING, bundled=True)
    entries = list(parts)
    first = entries[0]
    modes = tuple(dict.fromkeys(mode for entry in entries for mode in entry.modes))
    return ModelEntry(
        first.path,
        family=first.family,
        # Every demo model by name ("Demo shapes + Demo upscaler"): the one entry stands for all of them.
        family_label=" + ".join(dict.fromkeys(e.family_label for e in entries if e.family_label)) or "Demo",
        modes=modes,
        default_size=first.default_size,
        default_cfg_scale=first.default_cfg_scale,
        size_multiple=first.size_multiple,
        # Upscale runs on the demo upscaler: its noise level, not the text-to-image model's (none).
        default_noise_level=next(
            (e.default_noise_level for e in entries if e.default_noise_level is not None), None
        ),
        problem=first.problem,
        bundled=True,
    )


def _checkpoints(folder: Path) -> list[Path]:
    """The models folder's checkpoints, leaving out its LoRA and embeddings folders (their own panel)."""
    skip = adapter_folders(folder)
    return [path for path in list_checkpoints(folder) if not any(path.is_relative_to(s) for s in skip)]


def _run_in_background(work: Callable[[], None], name: str) -> None:
    threading.Thread(target=work, name=name, daemon=True).start()


class ModelList(QObject):
    changed = Signal()  # entries, folder or problem changed
    hashChanged = Signal(str)  # a model path whose hash is now known
    message = Signal(str)  # news for the status bar (a model was added)
    errorOccurred = Signal(str)  # a model that could not be added
    # Results from background threads; Qt queues them into the GUI thread.
    _scanned = Signal(int, list, str, list)
    _hashed = Signal(int, str, str)
    _added = Signal(list, list)

    def __init__(
        self,
        settings: Settings,
        inspect: Callable[[Path], ModelEntry] = inspect_model,
        bundled_paths: Callable[[], list[Path]] = bundled_model_paths,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._settings = settings
        self._inspect = inspect
        self._bundled_paths = bundled_paths
        self._generation = 0
        self.entries: list[ModelEntry] = []
        self.bundled_parts: list[ModelEntry] = []  # each demo model file (bundled=True), as inspected
        self.problem = ""  # why the models folder could not be read
        self.scanning = False
        self._hashes: dict[str, str] = {}
        self._scanned.connect(self._on_scanned)
        self._hashed.connect(self._on_hashed)
        self._added.connect(self._on_added)

    @property
    def folder(self) -> Path:
        return self._settings.models_folder

    @property
    def user_entries(self) -> list[ModelEntry]:
        return [entry for entry in self.entries if not entry.bundled]

    def entry_for(self, model: str) -> ModelEntry | None:
        return next((entry for entry in self.entries if model_value(entry) == model), None)

    def hash_of(self, entry: ModelEntry) -> str | None:
        return self._hashes.get(str(entry.path))

    def rescan(self) -> None:
        """Read the folder again in the background; `changed` fires when done."""
        self._generation += 1
        generation, folder = self._generation, self.folder
        self.scanning = True

        def work() -> None:
            parts = [replace(self._inspect(path), bundled=True) for path in self._bundled_paths()]
            entries = [_bundled_entry(parts)]
            problem = ""
            try:
                entries += [self._inspect(path) for path in _checkpoints(folder)]
            except LdmError as exc:
                problem = str(exc)
            except Exception as exc:  # a scan that dies must still end `scanning`
                problem = f"Could not read the models folder {folder}: {exc}"
            self._scanned.emit(generation, entries, problem, parts)

        _run_in_background(work, "ldm-studio-model-scan")

    @Slot(int, list, str, list)
    def _on_scanned(self, generation: int, entries: list, problem: str, parts: list) -> None:
        if generation != self._generation:
            return  # a newer scan (another folder) is on its way
        self.entries, self.problem, self.scanning = entries, problem, False
        self.bundled_parts = parts
        self._hashes = {}
        to_hash = []
        # Each demo file has a row of its own in the models panel, and its hash.
        for entry in {str(e.path): e for e in [*entries, *parts]}.values():
            if not entry.usable:
                continue
            cached = self._settings.model_hash(entry.path)
            if cached:
                self._hashes[str(entry.path)] = cached
                remember_short_hash(entry.path, cached)  # the engine's infotext need not read it again
            else:
                to_hash.append(entry.path)
        self.changed.emit()
        if to_hash:
            _run_in_background(lambda: self._hash_all(generation, to_hash), "ldm-studio-model-hash")

    def _hash_all(self, generation: int, paths: list[Path]) -> None:
        for path in paths:
            if generation != self._generation:
                return
            try:
                digest = short_hash(path)
            except OSError:
                continue  # the file went away; the next scan will say so
            self._hashed.emit(generation, str(path), digest)

    @Slot(int, str, str)
    def _on_hashed(self, generation: int, path: str, digest: str) -> None:
        if generation != self._generation:
            return
        self._hashes[path] = digest
        self._settings.remember_model_hash(Path(path), digest)
        self.hashChanged.emit(path)

    def add_files(self, paths: Sequence[Path]) -> None:
        """Link or copy checkpoints into the models folder in the background, then rescan."""
        folder = self.folder
        self.message.emit(f"Adding {', '.join(p.name for p in paths)} to {folder}…")

        def work() -> None:
            added, errors = [], []
            for path in paths:
                try:
                    entry = self._inspect(add_model_file(Path(path), folder))
                except LdmError as exc:
                    errors.append(str(exc))
                    continue
                if entry.usable:
                    added.append(f"Added {entry.path.name} ({entry.family_label}) to the models folder")
                else:  # kept, and listed with the reason, so the user sees why it is not offered
                    errors.append(f"Added {entry.path.name}, but it cannot be used: {entry.problem}")
            self._added.emit(added, errors)

        _run_in_background(work, "ldm-studio-model-add")

    @Slot(list, list)
    def _on_added(self, added: list, errors: list) -> None:
        for error in errors:
            self.errorOccurred.emit(error)
        for message in added:
            self.message.emit(message)
        self.rescan()
