"""The models folder is watched: a checkpoint copied in (or removed) shows up without pressing Rescan.

QFileSystemWatcher reports a folder change when a file is created, renamed or deleted, not while a big
file is still being written. So the change only starts a debounce timer; when it fires the folder's
checkpoint sizes are compared with the last look, and while any is still growing the timer runs again.
Only a folder that has settled is rescanned, so a half-copied 6 GB file is not listed as broken.
The watch follows the folder when Preferences move it, and ends when its window closes: the inotify
notifier is deleted there, in the GUI thread (one deleted later by garbage collection on a worker thread
would leave the event loop polling a freed source).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from PySide6.QtCore import QEvent, QFileSystemWatcher, QObject, QTimer

from ldm_studio.engine.model_scan import is_checkpoint_file
from ldm_studio.gui.panels.model_list import ModelList

DEBOUNCE_MS = 700


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


class ModelsWatcher(QObject):
    def __init__(
        self, models: ModelList, debounce_ms: int = DEBOUNCE_MS, parent: QObject | None = None
    ) -> None:
        super().__init__(parent if parent is not None else models)
        self.models = models
        self.watcher: QFileSystemWatcher | None = QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(self._changed)
        self.timer = QTimer(self, singleShot=True, interval=debounce_ms)
        self.timer.timeout.connect(self._settle)
        self.rescans = 0  # how many rescans the watch asked for (tests, and a sanity check)
        self._folder: Path | None = None
        self._last: dict[str, tuple[int, int]] | None = None  # what the last scan saw
        self._last_look: dict[str, tuple[int, int]] | None = None  # the previous look while settling
        models.changed.connect(self.follow_folder)
        self.follow_folder()

    @property
    def folder(self) -> Path | None:
        return self._folder

    def stop(self) -> None:
        """Stop watching for good (the window is closing)."""
        self.timer.stop()
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
            return
        if self.watcher.directories():
            self.watcher.removePaths(self.watcher.directories())
        self._folder = folder
        if folder.is_dir():
            self.watcher.addPath(str(folder))
        self._last = folder_stamp(folder)

    def _changed(self, _path: str) -> None:
        self.timer.start()  # restarts: many events in a burst make one look

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


def watch_models(models: ModelList, window: QObject, debounce_ms: int = DEBOUNCE_MS) -> ModelsWatcher:
    """Watch `models.folder` (and any folder it moves to) until `window` closes; changes trigger
    `models.rescan()`."""
    watcher = ModelsWatcher(models, debounce_ms, parent=window)
    window.installEventFilter(watcher)
    return watcher
