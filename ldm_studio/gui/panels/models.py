"""Choosing a model: the tool-bar selector and the models panel, both following the ModelList.

The panel shows every file in the models folder with its family and hash; a file that cannot be used is
listed with the reason instead of being hidden, so the user learns why their download does not show up.
Choosing a usable row writes the document's `model`; the document's `model` selects the row back.
The bundled demo models are one choice for the document (model "", the demo for the mode) but two rows
here, each saying what it does; choosing the demo upscaler also switches to the Upscale tab, and the
text-to-image demo back from it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtGui import QBrush, QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ldm_studio.engine.model_scan import ModelEntry
from ldm_studio.gui.document import MODE_LABELS, Document
from ldm_studio.gui.panels.model_list import ModelList, model_value
from ldm_studio.gui.settings import Settings

DEMO_NAME = "Demo model (bundled)"
DEMO_TXT2IMG_NAME = "Demo text → image (bundled)"
DEMO_UPSCALER_NAME = "Demo upscaler (bundled)"
COLUMNS = ("Name", "Family", "Hash", "Status")


def _is_upscaler(entry: ModelEntry) -> bool:
    return entry.modes == ("upscale",)


def entry_title(entry: ModelEntry) -> str:
    return DEMO_NAME if entry.bundled else entry.name


def demo_title(part: ModelEntry) -> str:
    return DEMO_UPSCALER_NAME if _is_upscaler(part) else DEMO_TXT2IMG_NAME


def demo_description(part: ModelEntry) -> str:
    """What a bundled demo model does, for its row."""
    where = ", ".join(MODE_LABELS.get(mode, mode) for mode in part.modes)
    if _is_upscaler(part):
        return f"enlarges an image, sharper than plain resizing: {where}"
    return f"draws coloured shapes from a prompt (128×128): {where}"


def no_models_hint(folder: Path) -> str:
    return (
        f"No checkpoints of your own yet. Copy .safetensors or .ckpt files (Stable Diffusion 1.x/2.x, "
        "SDXL and its fine-tunes, inpainting, x4 upscaler) "
        f"into {folder}, or drop them onto the window. Until then the "
        "bundled demo model is used."
    )


def _ask_folder(parent: QWidget, start: str) -> str:
    return QFileDialog.getExistingDirectory(parent, "Models folder", start)


class ModelSelector(QComboBox):
    """A compact choice of the usable models, for the tool bar."""

    def __init__(self, models: ModelList, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.models, self.document = models, document
        self.setMinimumContentsLength(18)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setToolTip("The model to generate with")
        models.changed.connect(self._refill)
        document.changed.connect(lambda name: name == "model" and self._select())
        self.activated.connect(lambda index: setattr(self.document, "model", self.itemData(index)))
        self._refill()

    def _refill(self) -> None:
        with QSignalBlocker(self):
            self.clear()
            for entry in self.models.entries:
                if entry.usable:
                    self.addItem(entry_title(entry), model_value(entry))
        self._select()

    def _select(self) -> None:
        with QSignalBlocker(self):
            index = self.findData(self.document.model)
            if index < 0 and self.document.model:
                # Chosen earlier but not (or not yet) in the folder: show it rather than pretend.
                self.addItem(f"{Path(self.document.model).name} (not found)", self.document.model)
                index = self.count() - 1
            self.setCurrentIndex(index)


class ModelsPanel(QWidget):
    def __init__(
        self, models: ModelList, document: Document, settings: Settings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.models, self.document, self.settings = models, document, settings
        self.ask_folder: Callable[[QWidget, str], str] = _ask_folder

        self.folder_label = QLabel()
        self.folder_label.setWordWrap(True)  # a long path wraps instead of widening the dock
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.change_button = QPushButton("Change…")
        self.change_button.clicked.connect(self.choose_folder)
        self.rescan_button = QPushButton("Rescan")
        self.rescan_button.clicked.connect(models.rescan)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_label, stretch=1)
        folder_row.addWidget(self.change_button)
        folder_row.addWidget(self.rescan_button)

        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemClicked.connect(self._on_clicked)
        self.hint_label = QLabel()
        self.hint_label.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addLayout(folder_row)
        layout.addWidget(self.tree, stretch=1)
        layout.addWidget(self.hint_label)
        models.changed.connect(self._refill)
        models.hashChanged.connect(self._show_hash)
        document.changed.connect(lambda name: name in ("model", "mode") and self._select())
        self._refill()

    def _refill(self) -> None:
        self.folder_label.setText(f"Models folder: {self.models.folder}")
        self.tree.clear()
        grey = QBrush(self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text))
        for entry in self.models.entries:
            parts = self.models.bundled_parts if entry.bundled and entry.usable else []
            for row in parts or [entry]:
                self.tree.addTopLevelItem(self._item(row, grey))
        self.hint_label.setText(self._hint())
        self._select()

    def _item(self, entry: ModelEntry, grey: QBrush) -> QTreeWidgetItem:
        if entry.bundled and entry.usable and self.models.bundled_parts:  # one of the demo models
            title, status = demo_title(entry), entry.problem or "ready: " + demo_description(entry)
        else:
            title, status = entry_title(entry), entry.problem or ("ready: " + ", ".join(entry.modes))
        hash_text = self.models.hash_of(entry) or ("…" if entry.usable else "")
        item = QTreeWidgetItem([title, entry.family_label, hash_text, status])
        item.setData(0, Qt.ItemDataRole.UserRole, entry)
        item.setToolTip(0, str(entry.path))
        item.setToolTip(3, status)
        if not entry.usable:
            for column in range(len(COLUMNS)):
                item.setForeground(column, grey)
        return item

    def _hint(self) -> str:
        if self.models.scanning:
            return "Scanning…"
        if self.models.problem:
            return self.models.problem
        if not self.models.user_entries:
            return no_models_hint(self.models.folder)
        return ""

    def _show_hash(self, path: str) -> None:
        for index in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(index)
            entry = item.data(0, Qt.ItemDataRole.UserRole)
            if str(entry.path) == path:
                item.setText(2, self.models.hash_of(entry) or "")

    def _select(self) -> None:
        mode = self.document.mode
        demo_rows = [e for e in self._row_entries() if e.bundled and e.usable]
        # The demo row for the mode (model "" runs the demo for the mode), else the first demo row.
        demo = next((e for e in demo_rows if mode in e.modes), demo_rows[0] if demo_rows else None)
        for index in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(index)
            entry = item.data(0, Qt.ItemDataRole.UserRole)
            chosen = model_value(entry) == self.document.model and (not entry.bundled or entry is demo)
            item.setSelected(entry.usable and chosen)

    def _row_entries(self) -> list[ModelEntry]:
        tree = self.tree
        return [
            tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole) for i in range(tree.topLevelItemCount())
        ]

    def _on_clicked(self, item: QTreeWidgetItem) -> None:
        entry: ModelEntry = item.data(0, Qt.ItemDataRole.UserRole)
        if entry.usable:
            if entry.bundled and entry.modes and self.document.mode not in entry.modes:
                self.document.mode = entry.modes[0]  # the demo upscaler: the Upscale tab (and back)
            self.document.model = model_value(entry)
            self.hint_label.setText(self._hint())
        else:
            self.hint_label.setText(f"{entry_title(entry)} cannot be used: {entry.problem}")
        self._select()

    def choose_folder(self) -> None:
        chosen = self.ask_folder(self, str(self.models.folder))
        if chosen:
            self.settings.models_folder = Path(chosen)
            self.models.rescan()
            self._refill()
