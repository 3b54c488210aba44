"""The history in the window: records every finished job, shows the History dock, restores an entry.

`install_history(window)` is all the main window calls: it opens the database in the settings' data
folder, adds the dock, and connects the runner's results to it. A damaged database is replaced by a
fresh one (the old file kept, the notice bar says so once); a locked one is retried at the next result
and reported once per lock, without holding the window for more than the database's short wait.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, Qt
from PySide6.QtGui import QAction, QImage, QKeySequence
from PySide6.QtWidgets import QAbstractItemView, QDockWidget

from ldm_studio.engine.errors import LdmError
from ldm_studio.engine.metadata import parse_infotext
from ldm_studio.gui.document import Document
from ldm_studio.gui.jobs.worker import ResultImage
from ldm_studio.gui.panels.compare import CompareDialog
from ldm_studio.gui.panels.history import HistoryPanel
from ldm_studio.history.database import FILE_NAME, Generation, HistoryDatabase, HistoryLocked, ResultFile

if TYPE_CHECKING:
    from ldm_studio.gui.panels.model_list import ModelList

# `window` below is the MainWindow (not imported: it imports this module): its settings, document,
# models, runner, notice and status are what this module uses.

THUMBNAIL_STORED = 96  # pixels on the long side of the thumbnail kept in the database
THUMBNAIL_QUALITY = 85
MACHINE_FIELDS = {"device", "precision", "preview_interval", "mode"}  # this machine's and this moment's


def thumbnail_bytes(image: QImage) -> bytes:
    """A small JPEG (a few kB: thousands of entries stay a few MB; PNG would be several times larger)."""
    small = image.scaled(
        THUMBNAIL_STORED,
        THUMBNAIL_STORED,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    small.save(buffer, "JPEG", THUMBNAIL_QUALITY)
    return bytes(data.data())


def generation_of(results: list[ResultImage], known_hash: str = "") -> Generation:
    """One job's results as a history entry: the request's settings, the model the infotext names."""
    request = results[0].request
    info = parse_infotext(results[0].infotext) if results[0].infotext else {}
    name = info.get("Model") or (Path(request.model).stem if request.model else "demo")
    return Generation(
        prompt=request.prompt,
        negative=request.negative_prompt,
        settings=request.to_dict(),
        model_name=name,
        model_hash=info.get("Model hash", "") or known_hash,
        model_path=request.model,
        results=tuple(
            ResultFile(str(r.path) if r.path else None, r.seed, thumbnail_bytes(r.image)) for r in results
        ),
    )


def restore_entry(document: Document, entry: Generation, models: ModelList, seed: int | None = None) -> str:
    """Put an entry's parameters into the document; return a line for the user about the model.

    The model is looked up by path, then by name (a folder moved); when neither is there the current
    model stays and the line says so. Device, precision, preview interval and mode stay this machine's.
    The seed is the first result's (or `seed`) and is locked, so Generate makes the same image again."""
    note = ""
    wanted = str(entry.settings.get("model", entry.model_path) or "")
    if wanted and models.entry_for(wanted) is None:
        same_name = [e for e in models.user_entries if e.usable and e.name == entry.model_name]
        if same_name:
            wanted = str(same_name[0].path)
        else:
            note = f"The model {entry.model_name} is not in your models folder: kept the current one."
            wanted = document.model
    document.model = wanted  # first: a model change may move size and guidance to the model's own
    values = {k: v for k, v in entry.settings.items() if k not in MACHINE_FIELDS and k != "model"}
    document.update(values, strict=False)
    first = entry.results[0].seed if entry.results else entry.settings.get("seed")
    if seed is not None or first is not None:
        document.seed = seed if seed is not None else first
    document.seed_locked = True
    return note


class HistoryDock(QObject):
    """What install_history made: the database (None while unavailable), the panel and its dock."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.path = window.settings.data_folder / FILE_NAME
        self.database: HistoryDatabase | None = None
        self.panel = HistoryPanel()
        self._said_locked = False
        self.dock = QDockWidget("History", window)
        self.dock.setObjectName("history_dock")  # saveState needs names
        self.dock.setWidget(self.panel)
        features = QDockWidget.DockWidgetFeature
        self.dock.setFeatures(features.DockWidgetMovable | features.DockWidgetFloatable)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        # A tab beside Prompt / Models / LoRAs: a dock of its own would widen the window past small screens.
        prompt_dock = window.findChild(QDockWidget, "prompt_dock")
        if prompt_dock is not None:
            window.tabifyDockWidget(prompt_dock, self.dock)
            prompt_dock.raise_()
        self.panel.restoreRequested.connect(self.restore)
        self.panel.compareRequested.connect(self.compare_files)
        # Ctrl/Shift-click picks two gallery results to compare; a plain click still views one.
        window.gallery.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.compare_action = QAction("Compare the two selected results", window)
        self.compare_action.setShortcut(QKeySequence("Ctrl+Shift+C"))
        self.compare_action.triggered.connect(self.compare_gallery_selection)
        window.addAction(self.compare_action)
        self.menu = window.menuBar().addMenu("&History")
        self.menu.addAction(self.dock.toggleViewAction())
        self.menu.addAction(self.compare_action)
        self.compare_dialog: CompareDialog | None = None
        self.panel.errorOccurred.connect(window.notice.show_error)
        window.runner.result.connect(self.record)
        self._open()
        self.panel.set_database(self.database)

    def _open(self) -> bool:
        try:
            self.database = HistoryDatabase(self.path)
        except HistoryLocked as exc:
            self._say_locked(f"{exc} The history is read again at the next result.")
            return False
        except LdmError as exc:
            self.window.notice.show_error(f"History is off this session: {exc}")
            return False
        if self.database.notice:
            self.window.notice.show_error(self.database.notice)
        self.panel.database = self.database
        return True

    def _say_locked(self, text: str) -> None:
        if not self._said_locked:  # once per lock, not at every image
            self.window.notice.show_error(text)
            self._said_locked = True

    def record(self, results: list[ResultImage]) -> None:
        live = getattr(self.window, "live", None)
        if not results or (live is not None and live.owns_running_job()):
            return  # live mode's images are scratch, made at every edit: not history
        if self.database is None and not self._open():
            return  # said so when it failed; the next result tries again
        model = results[0].request.model
        entry = self.window.models.entry_for(model) if model else None
        known = (self.window.models.hash_of(entry) or "") if entry is not None else ""
        try:
            self.database.record(generation_of(results, known))
        except HistoryLocked as exc:
            self._say_locked(str(exc))
            return
        except LdmError as exc:
            self.window.notice.show_error(f"This generation was not added to the history: {exc}")
            return
        self._said_locked = False
        self.panel.refresh()

    def restore(self, entry: Generation) -> None:
        note = restore_entry(self.window.document, entry, self.window.models)
        if note:
            self.window.notice.show_info(note)
        self.window.status.showMessage("Restored the parameters of a history entry", 5000)
        prompt_dock = self.window.findChild(QDockWidget, "prompt_dock")
        if prompt_dock is not None:
            prompt_dock.raise_()  # the restored fields, in view

    def compare(self, first: tuple[QImage, str], second: tuple[QImage, str]) -> CompareDialog:
        dialog = CompareDialog(first, second, self.window)
        dialog.show()
        self.compare_dialog = dialog
        return dialog

    def compare_gallery_selection(self) -> CompareDialog | None:
        results = self.window.gallery.results
        rows = sorted({index.row() for index in self.window.gallery.list.selectedIndexes()})
        if len(rows) != 2:
            self.window.status.showMessage(
                "Select two results in the gallery (Ctrl+click the second), then compare", 8000
            )
            return None
        # The gallery shows the newest first: the older image goes left ("before").
        older, newer = results[rows[1]], results[rows[0]]
        return self.compare((older.image, f"seed {older.seed}"), (newer.image, f"seed {newer.seed}"))

    def compare_files(self, first: ResultFile, second: ResultFile) -> CompareDialog | None:
        images = [(QImage(str(r.path)), r) for r in (first, second)]
        unreadable = [str(r.path) for image, r in images if image.isNull()]
        if unreadable:
            self.window.notice.show_error(f"Cannot compare: {', '.join(unreadable)} cannot be read.")
            return None
        titled = [(image, f"seed {r.seed} · {Path(r.path or '').name}") for image, r in images]
        return self.compare(titled[0], titled[1])


def install_history(window: Any) -> HistoryDock:
    """Add the History dock to the window and record its results from now on."""
    return HistoryDock(window)
