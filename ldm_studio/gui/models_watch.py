"""The models folder is watched: a checkpoint copied in (or removed) shows up without pressing Rescan.

QFileSystemWatcher reports a folder change when a file is created, renamed or deleted, not while a big
file is still being written. So the change only starts a debounce timer; when it fires the folder's
checkpoint sizes are compared with the last look, and while any is still growing the timer runs again.
Only a folder that has settled is rescanned, so a half-copied 6 GB file is not listed as broken.
The LoRA and embeddings folders inside it (and a `controlnet/` folder, when there is one) are watched
the same way, on their own debounce timer: a settled change there rescans the LoRAs dock, so a LoRA
copied in is listed without Rescan. A folder made later (loras/ created after start) is watched from the
models folder's change that announced it.
The watch follows the folder when Preferences move it, and ends when its window closes: the inotify
notifier is deleted there, in the GUI thread (one deleted later by garbage collection on a worker thread
would leave the event loop polling a freed source).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from PySide6.QtCore import QEvent, QFileSystemWatcher, QObject, QTimer, Signal

from ldm_studio.engine.model_scan import is_checkpoint_file
from ldm_studio.gui.panels.loras import adapter_folders
from ldm_studio.gui.panels.model_list import ModelList

DEBOUNCE_MS = 700
CONTROLNET_FOLDER = "controlnet"  # inside the models folder, watched only when present


def folder_stamp(folder: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime) of each checkpoint directly in `folder`: a look that reads no file."""
    stamp: dict[str, tuple[int, int]] = {}
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            if is_checkpoint_file(entry):
                with contextlib.suppress(OSError):
                    info = entry.stat()
                    stamp[entry.name] = (info.st_size, info.st_mtime_ns)
    return stamp


def watched_adapter_folders(models_folder: Path) -> list[Path]:
    """The LoRA and embeddings folders, and `controlnet/` when present: the adapter folders to watch."""
    return [*adapter_folders(models_folder), models_folder / CONTROLNET_FOLDER]


def files_stamp(folders: list[Path]) -> dict[str, tuple[int, int]]:
    """(size, mtime) of each visible file directly in `folders` (adapters and their preview pictures)."""
    stamp: dict[str, tuple[int, int]] = {}
    for folder in folders:
        with contextlib.suppress(OSError):
            for entry in folder.iterdir():
                if entry.name.startswith("."):
                    continue  # a copier's temporary
                with contextlib.suppress(OSError):
                    info = entry.stat()
                    stamp[str(entry)] = (info.st_size, info.st_mtime_ns)
    return stamp


class ModelsWatcher(QObject):
    adaptersChanged = Signal()  # the adapter folders settled after a change (a ControlNet list can follow)

    def __init__(
        self,
        models: ModelList,
        debounce_ms: int = DEBOUNCE_MS,
        parent: QObject | None = None,
        adapters: QObject | None = None,
    ) -> None:
        super().__init__(parent if parent is not None else models)
        self.models = models
        self.adapters = adapters  # the LoRAs dock (its rescan()); None: adapter folders not watched
        self.watcher: QFileSystemWatcher | None = QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(self._changed)
        self.timer = QTimer(self, singleShot=True, interval=debounce_ms)
        self.timer.timeout.connect(self._settle)
        self.rescans = 0  # how many rescans the watch asked for (tests, and a sanity check)
        self._folder: Path | None = None
        self._last: dict[str, tuple[int, int]] | None = None  # what the last scan saw
        self._last_look: dict[str, tuple[int, int]] | None = None  # the previous look while settling
        # The adapter folders settle on their own timer: a LoRA copy must not delay a checkpoint scan.
        self.adapter_timer = QTimer(self, singleShot=True, interval=debounce_ms)
        self.adapter_timer.timeout.connect(self._settle_adapters)
        self.adapter_rescans = 0
        self._adapter_last: dict[str, tuple[int, int]] = {}
        self._adapter_last_look: dict[str, tuple[int, int]] | None = None
        models.changed.connect(self.follow_folder)
        self.follow_folder()

    @property
    def folder(self) -> Path | None:
        return self._folder

    def stop(self) -> None:
        """Stop watching for good (the window is closing)."""
        self.timer.stop()
        self.adapter_timer.stop()
        if self.watcher is not None:
            self.watcher.deleteLater()
            self.watcher = None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close:
            self.stop()
        return False

    def follow_folder(self) -> None:
        if self.watcher is None:
            return
        folder = self.models.folder
        if folder == self._folder and str(folder) in self.watcher.directories():
            self._watch_adapter_folders()
            return
        if self.watcher.directories():
            self.watcher.removePaths(self.watcher.directories())
        self._folder = folder
        if folder.is_dir():
            self.watcher.addPath(str(folder))
        self._last = folder_stamp(folder)
        self._adapter_last, self._adapter_last_look = files_stamp(self._adapter_paths()), None
        self._watch_adapter_folders()

    def _adapter_paths(self) -> list[Path]:
        if self.adapters is None or self._folder is None:
            return []
        return watched_adapter_folders(self._folder)

    def _watch_adapter_folders(self) -> None:
        """Watch the adapter folders that exist now (one made since is added here)."""
        if self.watcher is None:
            return
        watched = set(self.watcher.directories())
        missing = [str(p) for p in self._adapter_paths() if p.is_dir() and str(p) not in watched]
        if missing:
            self.watcher.addPaths(missing)

    def _changed(self, path: str) -> None:
        if self._folder is not None and Path(path) == self._folder:
            self.timer.start()  # restarts: many events in a burst make one look
            self._watch_adapter_folders()  # loras/ may just have been made (or copied in whole)
        if self.adapters is not None:
            # The models folder's own change also covers a whole loras/ folder copied in at once.
            self.adapter_timer.start()

    def _settle(self) -> None:
        if self._folder is None or self.watcher is None:
            return
        now = folder_stamp(self._folder)
        if now == self._last:
            return  # nothing a scan would see (a temporary file came and went)
        if self._last_look == now:
            self._rescan(now)
        else:  # a file is still being written: look again after another quiet spell
            self._last_look = now
            self.timer.start()

    def _rescan(self, now: dict[str, tuple[int, int]]) -> None:
        self._last, self._last_look = now, None
        self.rescans += 1
        self.models.rescan()

    def _settle_adapters(self) -> None:
        if self.watcher is None or self.adapters is None:
            return
        now = files_stamp(self._adapter_paths())
        if now == self._adapter_last:
            return
        if self._adapter_last_look == now:
            self._adapter_last, self._adapter_last_look = now, None
            self.adapter_rescans += 1
            self.adapters.rescan()
            self.adaptersChanged.emit()
        else:  # still being written: look again after another quiet spell
            self._adapter_last_look = now
            self.adapter_timer.start()


def watch_models(models: ModelList, window: QObject, debounce_ms: int = DEBOUNCE_MS) -> ModelsWatcher:
    """Watch `models.folder` (and any folder it moves to) and its adapter folders until `window` closes;
    changes trigger `models.rescan()`, and `window.adapters_panel.rescan()` for the adapter folders."""
    adapters = getattr(window, "adapters_panel", None)
    watcher = ModelsWatcher(models, debounce_ms, parent=window, adapters=adapters)
    window.installEventFilter(watcher)
    return watcher
