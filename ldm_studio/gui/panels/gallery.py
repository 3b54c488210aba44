"""The gallery: every result of the session as a thumbnail, newest first, with what you can do with it.

Clicking a thumbnail asks to view it (the main window puts it on the canvas). The actions: use it as the
input of img2img / inpaint / upscale, make variations of it (its seed, new variation seeds), save a copy
elsewhere (never over an existing file), copy its parameters, open the output folder. Dialogs and the
desktop opener are attributes so tests replace them.
Results of earlier sessions (gallery_store.py) are listed after this session's from their cached
thumbnails; their file is read only when one is clicked or used. Those are added a few at a time from
a zero-interval timer (each batch at most BATCH_SIZE rows and about BATCH_BUDGET_S of thumbnail
reading), so a start with hundreds of results keeps the window responsive while they fill in. A new
output folder drops them and lists that folder's (`clear_stored`, then `add_stored` again).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QIcon, QPixmap
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ldm_studio.engine.errors import LdmError
from ldm_studio.engine.outputs import save_png_atomic
from ldm_studio.gui.document import MODE_LABELS
from ldm_studio.gui.jobs.worker import ResultImage
from ldm_studio.gui.panels.gallery_store import StoredResult, open_stored
from ldm_studio.gui.qt_images import qimage_to_array

THUMBNAIL = 96
INPUT_MODES = ("img2img", "inpaint", "upscale")
BATCH_BUDGET_S = 0.01  # thumbnail reading per event-loop turn while earlier results fill in
BATCH_SIZE = 50  # and at most this many rows per turn
VARIATIONS = 4  # "Variations of this": how many neighbours, and how far from the image (A1111's range)
VARIATION_STRENGTH = 0.25


def _ask_save_path(parent: QWidget, suggested: str) -> str:
    path, _ = QFileDialog.getSaveFileName(parent, "Save image as", suggested, "PNG image (*.png)")
    return path


class Gallery(QWidget):
    viewRequested = Signal(object)  # ResultImage
    useAsInput = Signal(object, str)  # ResultImage, mode
    message = Signal(str)  # what happened, for the status bar
    errorOccurred = Signal(str)
    savedAs = Signal(object, object)  # ResultImage, the Path written by "Save as…"
    variationsRequested = Signal(object, int, float)  # ResultImage, how many, variation strength

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.output_folder: Path = Path.home()
        self.ask_save_path: Callable[[QWidget, str], str] = _ask_save_path
        self.open_url: Callable[[QUrl], bool] = QDesktopServices.openUrl
        self._results: list[ResultImage | StoredResult] = []
        self._pending: deque[StoredResult] = deque()  # earlier results not listed yet
        self._stored_paths: set[Path] = set()  # files listed from the output folder (not this session's)
        self._feed = QTimer(self, interval=0)
        self._feed.timeout.connect(self._add_stored_batch)

        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setFlow(QListView.Flow.LeftToRight)
        self.list.setWrapping(False)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setIconSize(QSize(THUMBNAIL, THUMBNAIL))
        self.list.setFixedHeight(THUMBNAIL + 28)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._show_context_menu)
        self.list.itemClicked.connect(lambda item: self._view(item))
        self.list.currentItemChanged.connect(lambda item, _: self._update_actions())

        self.use_menu = QMenu("Use as input", self)
        self.use_actions: dict[str, QAction] = {}
        for mode in INPUT_MODES:
            action = self.use_menu.addAction(MODE_LABELS[mode])
            action.triggered.connect(lambda _=False, mode=mode: self._use_selected(mode))
            self.use_actions[mode] = action
        self.save_action = QAction("Save as…", self, triggered=self.save_selected_as)
        self.copy_action = QAction("Copy parameters", self, triggered=self.copy_selected_parameters)
        self.open_folder_action = QAction("Open output folder", self, triggered=self.open_output_folder)
        self.variations_action = QAction("Variations of this", self, triggered=self.vary_selected)
        self.variations_action.setToolTip("Neighbours of this image: same seed, new variation seeds")
        self.variation_count = QSpinBox(
            minimum=1, maximum=16, value=VARIATIONS, toolTip="How many variations", suffix=" images"
        )
        self.variation_strength = QDoubleSpinBox(
            minimum=0.01,
            maximum=1.0,
            singleStep=0.05,
            decimals=2,
            value=VARIATION_STRENGTH,
            prefix="strength ",
        )
        self.variation_strength.setToolTip("Variation strength: 0 = this image, 1 = a new one")

        buttons = QVBoxLayout()
        use_button = QToolButton(text="Use as input", popupMode=QToolButton.ToolButtonPopupMode.InstantPopup)
        use_button.setMenu(self.use_menu)
        buttons.addWidget(use_button)
        for action in (self.save_action, self.copy_action, self.open_folder_action):
            button = QToolButton()
            button.setDefaultAction(action)
            buttons.addWidget(button)
        buttons.addStretch()
        variations = QVBoxLayout()
        vary_button = QToolButton()
        vary_button.setDefaultAction(self.variations_action)
        for widget in (vary_button, self.variation_count, self.variation_strength):
            variations.addWidget(widget)
        variations.addStretch()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, stretch=1)
        layout.addLayout(buttons)
        layout.addLayout(variations)
        self._update_actions()

    @property
    def results(self) -> list[ResultImage | StoredResult]:
        """Newest first, as shown (earlier sessions' results stay StoredResult until opened)."""
        return list(self._results)

    @property
    def loading(self) -> bool:
        """Whether earlier results are still being added."""
        return bool(self._pending)

    def add_stored(self, stored: list[StoredResult]) -> None:
        """Earlier sessions' results (newest first), after this session's; files listed already are
        skipped. They are added in batches from the event loop (`loading` until all are in)."""
        self._pending.extend(stored)
        if self._pending and not self._feed.isActive():
            self._feed.start()

    def _add_stored_batch(self) -> None:
        shown = {r.path for r in self._results if r.path is not None}
        deadline, room = time.perf_counter() + BATCH_BUDGET_S, BATCH_SIZE
        while self._pending and room > 0:
            entry = self._pending.popleft()
            if entry.path in shown:
                continue
            shown.add(entry.path)
            self._stored_paths.add(entry.path)
            self._results.append(entry)
            label = f"seed {entry.seed}" if entry.seed is not None else entry.path.stem
            item = QListWidgetItem(QIcon(QPixmap(str(entry.thumbnail))), label)
            item.setToolTip(entry.infotext or entry.path.name)
            self.list.addItem(item)
            room -= 1
            if time.perf_counter() > deadline:
                break  # the rest in the next turn of the event loop
        if not self._pending:
            self._feed.stop()
        self._update_actions()

    def clear_stored(self) -> None:
        """Drop the output folder's earlier results (listed or still to come); this session's stay."""
        self._pending.clear()
        self._feed.stop()
        for row in reversed(range(len(self._results))):
            if self._results[row].path in self._stored_paths:
                del self._results[row]
                self.list.takeItem(row)
        self._stored_paths.clear()
        self._update_actions()

    def _result_at(self, row: int) -> ResultImage | None:
        """The result in `row`, reading an earlier session's file the first time it is needed."""
        if not 0 <= row < len(self._results):
            return None
        result = self._results[row]
        if isinstance(result, StoredResult):
            try:
                result = open_stored(result)
            except LdmError as exc:
                self.errorOccurred.emit(str(exc))
                return None
            self._results[row] = result
        return result

    def add_results(self, results: list[ResultImage]) -> None:
        for result in results:
            self._results.insert(0, result)
            thumbnail = QPixmap.fromImage(result.image).scaled(
                THUMBNAIL,
                THUMBNAIL,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            item = QListWidgetItem(QIcon(thumbnail), f"seed {result.seed}")
            item.setToolTip(result.infotext)
            self.list.insertItem(0, item)
        if results:
            self.list.setCurrentRow(0)

    def remove_results(self, results: list[ResultImage]) -> None:
        """Take these results (by identity) out of the list: live mode's earlier scratch images."""
        for row in reversed(range(len(self._results))):
            if any(self._results[row] is result for result in results):
                del self._results[row]
                self.list.takeItem(row)
        self._update_actions()

    def selected(self) -> ResultImage | None:
        return self._result_at(self.list.currentRow())

    def _view(self, item: QListWidgetItem) -> None:
        result = self._result_at(self.list.row(item))
        if result is not None:
            self.viewRequested.emit(result)

    def _update_actions(self) -> None:
        has_selection = 0 <= self.list.currentRow() < len(self._results)
        for action in (
            *self.use_actions.values(),
            self.save_action,
            self.copy_action,
            self.variations_action,
        ):
            action.setEnabled(has_selection)

    def _use_selected(self, mode: str) -> None:
        if (result := self.selected()) is not None:
            self.useAsInput.emit(result, mode)

    def vary_selected(self) -> None:
        """Ask for neighbours of the selected image (the main window runs them)."""
        if (result := self.selected()) is not None:
            count, strength = self.variation_count.value(), self.variation_strength.value()
            self.variationsRequested.emit(result, count, strength)

    def save_selected_as(self) -> None:
        result = self.selected()
        if result is None:
            return
        suggested = str(self.output_folder / (result.path.name if result.path else f"{result.seed}.png"))
        chosen = self.ask_save_path(self, suggested)
        if not chosen:
            return
        target = Path(chosen) if Path(chosen).suffix else Path(chosen).with_suffix(".png")
        image = Image.fromarray(qimage_to_array(result.image))
        try:
            written = save_png_atomic(image, result.infotext, result.request, target, seed=result.seed)
        except LdmError as exc:
            self.errorOccurred.emit(str(exc))
            return
        note = "" if written == target else f" ({target.name} exists and was kept)"
        self.message.emit(f"Saved {written}{note}")
        self.savedAs.emit(result, written)

    def copy_selected_parameters(self) -> None:
        if (result := self.selected()) is not None:
            QGuiApplication.clipboard().setText(result.infotext)
            self.message.emit("Parameters copied")

    def open_output_folder(self) -> None:
        folder = self.output_folder
        if not folder.is_dir():
            self.errorOccurred.emit(
                f"The output folder {folder} does not exist yet: it is made at the first save."
            )
            return
        self.open_url(QUrl.fromLocalFile(str(folder)))

    def _show_context_menu(self, position) -> None:
        item = self.list.itemAt(position)
        if item is None:
            return
        self.list.setCurrentItem(item)
        menu = QMenu(self)
        menu.addMenu(self.use_menu)
        menu.addActions([self.variations_action, self.save_action, self.copy_action, self.open_folder_action])
        menu.popup(self.list.viewport().mapToGlobal(position))
