"""The gallery: every result of the session as a thumbnail, newest first, with what you can do with it.

Clicking a thumbnail asks to view it (the main window puts it on the canvas). The actions: use it as the
input of img2img / inpaint / upscale, make variations of it (its seed, new variation seeds), save a copy
elsewhere (never over an existing file), copy its parameters, open the output folder. Dialogs and the
desktop opener are attributes so tests replace them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QSize, Qt, QUrl, Signal
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
from ldm_studio.gui.qt_images import qimage_to_array

THUMBNAIL = 96
INPUT_MODES = ("img2img", "inpaint", "upscale")
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
    variationsRequested = Signal(object, int, float)  # ResultImage, how many, variation strength

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.output_folder: Path = Path.home()
        self.ask_save_path: Callable[[QWidget, str], str] = _ask_save_path
        self.open_url: Callable[[QUrl], bool] = QDesktopServices.openUrl
        self._results: list[ResultImage] = []

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
            minimum=1, maximum=16, value=VARIATIONS, toolTip="How many variations"
        )
        self.variation_strength = QDoubleSpinBox(
            minimum=0.01, maximum=1.0, singleStep=0.05, decimals=2, value=VARIATION_STRENGTH
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
    def results(self) -> list[ResultImage]:
        """Newest first, as shown."""
        return list(self._results)

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

    def selected(self) -> ResultImage | None:
        row = self.list.currentRow()
        return self._results[row] if 0 <= row < len(self._results) else None

    def _view(self, item: QListWidgetItem) -> None:
        row = self.list.row(item)
        if 0 <= row < len(self._results):
            self.viewRequested.emit(self._results[row])

    def _update_actions(self) -> None:
        has_selection = self.selected() is not None
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
