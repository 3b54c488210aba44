"""The LoRA & embeddings panel: the files of the LoRA and embeddings folders, put into the prompt by a click.

Each file is listed with its family, trigger words and the preview picture beside it; a file made for
another family than the chosen model's is greyed with the reason as its tooltip (a click says why and
inserts nothing). Clicking a LoRA adds `<lora:NAME:1>` to the prompt (or selects the tag already there);
the weight slider rewrites that tag's weight in the prompt. Clicking an embedding adds its word. The
prompt stays the one truth: the panel only edits the document's text, so undo, a dropped PNG and the
request all see the same tags. Folders are read on a short-lived thread (one header read per file).
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QSignalBlocker, QSize, Qt, Signal, Slot
from PySide6.QtGui import QBrush, QIcon, QPalette, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSlider,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ldm_studio.engine.adapter_scan import FAMILY_NAMES, AdapterEntry, incompatibility, scan_adapters
from ldm_studio.engine.errors import LdmError
from ldm_studio.engine.model_scan import add_model_file
from ldm_studio.gui.document import Document

LORA_FOLDER, EMBEDDINGS_FOLDER = "loras", "embeddings"  # inside the models folder
COLUMNS = ("Name", "Family", "Trigger words")
ICON_SIZE = 48
SLIDER_SCALE = 100  # slider units per 1.0 of weight
WEIGHT_RANGE = (-2.0, 2.0)


def adapter_folders(models_folder: Path) -> tuple[Path, Path]:
    """(LoRA folder, embeddings folder): `loras/` and `embeddings/` inside the models folder."""
    return models_folder / LORA_FOLDER, models_folder / EMBEDDINGS_FOLDER


def _lora_weight(prompt: str, name: str) -> float | None:
    from ldm_studio.engine.adapters.prompt_tags import parse_lora_tags  # torch-free, not the engine's face

    try:
        _, tags = parse_lora_tags(prompt)
    except ValueError:  # InputError: a tag with a weight that is not a number
        return None
    return next((tag.te for tag in tags if tag.name == name), None)


def _set_lora_weight(prompt: str, name: str, weight: float) -> str:
    from ldm_studio.engine.adapters.prompt_tags import set_lora_weight

    return set_lora_weight(prompt, name, weight)


def _with_word(prompt: str, word: str) -> str:
    if not prompt.strip():
        return word
    return prompt + ("" if prompt.endswith((" ", "\n")) else " " if prompt.endswith(",") else ", ") + word


class AdapterPanel(QWidget):
    listed = Signal(list, list)  # the LoRA names and embedding names, after each scan
    message = Signal(str)  # news for the status bar (a file was added)
    errorOccurred = Signal(str)  # a file that could not be added
    _scanned = Signal(int, list, list)  # from the scan thread into the GUI thread
    _added = Signal(list, list)

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.lora_folder: Path | None = None
        self.embeddings_folder: Path | None = None
        self.loras: list[AdapterEntry] = []
        self.embeddings: list[AdapterEntry] = []
        self.scanning = False
        self._generation = 0
        self._family: str | None = None
        self._selected: AdapterEntry | None = None

        self.folder_label = QLabel()
        self.folder_label.setWordWrap(True)
        self.rescan_button = QPushButton("Rescan")
        self.rescan_button.clicked.connect(self.rescan)
        top = QHBoxLayout()
        top.addWidget(self.folder_label, stretch=1)
        top.addWidget(self.rescan_button)

        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemClicked.connect(self._on_clicked)
        self.lora_group = QTreeWidgetItem(["LoRAs"])
        self.embedding_group = QTreeWidgetItem(["Embeddings"])
        self.tree.addTopLevelItems([self.lora_group, self.embedding_group])

        self.weight_label = QLabel("Weight")
        self.weight_slider = QSlider(Qt.Orientation.Horizontal)
        low, high = WEIGHT_RANGE
        self.weight_slider.setRange(int(low * SLIDER_SCALE), int(high * SLIDER_SCALE))
        self.weight_slider.setSingleStep(5)
        self.weight_slider.setPageStep(25)
        self.weight_slider.setValue(SLIDER_SCALE)
        self.weight_slider.setEnabled(False)
        self.weight_slider.setToolTip("The chosen LoRA's weight in the prompt")
        self.weight_slider.valueChanged.connect(self._on_weight_moved)
        weight_row = QHBoxLayout()
        weight_row.addWidget(self.weight_label)
        weight_row.addWidget(self.weight_slider, stretch=1)

        self.preview_label = QLabel()
        self.preview_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint_label = QLabel()
        self.hint_label.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.tree, stretch=1)
        layout.addLayout(weight_row)
        layout.addWidget(self.preview_label)
        layout.addWidget(self.hint_label)
        self._scanned.connect(self._on_scanned)
        self._added.connect(self._on_added)
        document.changed.connect(lambda name: name == "prompt" and self._follow_prompt())

    # -- folders ---------------------------------------------------------------------------------

    def set_folders(self, lora_folder: Path, embeddings_folder: Path) -> None:
        if (lora_folder, embeddings_folder) != (self.lora_folder, self.embeddings_folder):
            self.lora_folder, self.embeddings_folder = lora_folder, embeddings_folder
            self.rescan()

    def rescan(self) -> None:
        """Read both folders again in the background; the lists refill when done."""
        self._generation += 1
        generation, loras, embeddings = self._generation, self.lora_folder, self.embeddings_folder
        self.scanning = True
        self.folder_label.setText(f"LoRAs: {loras}\nEmbeddings: {embeddings}")

        def work() -> None:
            try:
                found = scan_adapters(loras, "lora"), scan_adapters(embeddings, "embedding")
            except OSError:
                found = [], []  # a folder that went away mid-walk: the next rescan tells
            self._scanned.emit(generation, *found)

        threading.Thread(target=work, name="ldm-studio-adapter-scan", daemon=True).start()

    @Slot(int, list, list)
    def _on_scanned(self, generation: int, loras: list, embeddings: list) -> None:
        if generation != self._generation:
            return
        self.loras, self.embeddings, self.scanning = loras, embeddings, False
        self._refill()
        self.listed.emit([e.name for e in loras], [e.name for e in embeddings])

    def add_files(self, files: list[tuple[Path, str]]) -> None:
        """Link or copy (path, "lora" | "embedding") files into their folders in the background; rescan."""
        targets = {"lora": self.lora_folder, "embedding": self.embeddings_folder}

        def work() -> None:
            added, errors = [], []
            for path, kind in files:
                folder = targets[kind]
                try:
                    target = add_model_file(path, folder)
                except LdmError as exc:
                    errors.append(str(exc))
                    continue
                added.append(
                    f"Added {target.name} to the {'LoRA' if kind == 'lora' else 'embeddings'} folder"
                )
            self._added.emit(added, errors)

        threading.Thread(target=work, name="ldm-studio-adapter-add", daemon=True).start()

    @Slot(list, list)
    def _on_added(self, added: list, errors: list) -> None:
        for error in errors:
            self.errorOccurred.emit(error)
        for text in added:
            self.message.emit(text)
        self.rescan()

    def set_model_family(self, family: str | None) -> None:
        """The chosen model's family: files made for another are greyed with the reason."""
        if family != self._family:
            self._family = family
            self._refill()

    # -- the list ----------------------------------------------------------------------------------

    def _refill(self) -> None:
        grey = QBrush(self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text))
        for group, entries, kind in (
            (self.lora_group, self.loras, "LoRA"),
            (self.embedding_group, self.embeddings, "embedding"),
        ):
            group.takeChildren()
            for entry in entries:
                group.addChild(self._item(entry, grey))
            group.setText(0, f"{kind[0].upper()}{kind[1:]}s ({len(entries)})")
            group.setExpanded(True)
        self.hint_label.setText(self._hint())

    def _item(self, entry: AdapterEntry, grey: QBrush) -> QTreeWidgetItem:
        family = FAMILY_NAMES.get(entry.family or "", "unknown")
        item = QTreeWidgetItem([entry.name, family, ", ".join(entry.triggers[:5])])
        item.setData(0, Qt.ItemDataRole.UserRole, entry)
        reason = incompatibility(entry, self._family)
        tip = (
            str(entry.path)
            if not entry.triggers
            else f"{entry.path}\nTrigger words: {', '.join(entry.triggers)}"
        )
        item.setToolTip(0, reason or tip)
        item.setToolTip(1, reason or family)
        if entry.triggers:
            item.setToolTip(2, ", ".join(entry.triggers))
        if entry.preview is not None:
            pixmap = QPixmap(str(entry.preview))
            if not pixmap.isNull():
                item.setIcon(
                    0, QIcon(pixmap.scaled(ICON_SIZE, ICON_SIZE, Qt.AspectRatioMode.KeepAspectRatio))
                )
        if reason:
            for column in range(len(COLUMNS)):
                item.setForeground(column, grey)
        return item

    def _hint(self) -> str:
        if self.scanning:
            return "Scanning…"
        if not self.loras and not self.embeddings:
            return (
                f"No LoRAs or embeddings yet: put .safetensors files into {self.lora_folder} "
                f"and {self.embeddings_folder}, then press Rescan."
            )
        return "Click a LoRA to add it to the prompt, an embedding to add its word."

    def items(self, kind: str) -> list[QTreeWidgetItem]:
        group = self.lora_group if kind == "lora" else self.embedding_group
        return [group.child(i) for i in range(group.childCount())]

    # -- into the prompt ---------------------------------------------------------------------------

    def _on_clicked(self, item: QTreeWidgetItem) -> None:
        entry = item.data(0, Qt.ItemDataRole.UserRole)
        if entry is not None:
            self.choose(entry)

    def choose(self, entry: AdapterEntry) -> None:
        """What a click does: the LoRA's tag or the embedding's word into the prompt, unless it cannot fit."""
        self._show_preview(entry)
        reason = incompatibility(entry, self._family)
        if reason:
            self.hint_label.setText(f"{entry.name} cannot be used: {reason}")
            return
        self.hint_label.setText("")
        if entry.kind == "embedding":
            self._select(None)
            self.document.prompt = _with_word(self.document.prompt, entry.name)
            return
        self._select(entry)
        if _lora_weight(self.document.prompt, entry.name) is None:
            self.document.prompt = _set_lora_weight(self.document.prompt, entry.name, 1.0)
        self._follow_prompt()

    def _select(self, entry: AdapterEntry | None) -> None:
        self._selected = entry
        self.weight_label.setText(f"Weight of {entry.name}" if entry else "Weight")
        self.weight_slider.setEnabled(entry is not None)

    def _show_preview(self, entry: AdapterEntry) -> None:
        pixmap = QPixmap(str(entry.preview)) if entry.preview is not None else QPixmap()
        if pixmap.isNull():
            self.preview_label.clear()
        else:
            self.preview_label.setPixmap(pixmap.scaled(160, 160, Qt.AspectRatioMode.KeepAspectRatio))

    def _follow_prompt(self) -> None:
        """The slider shows the selected LoRA's weight as the prompt now says it (typed or restored)."""
        if self._selected is None:
            return
        weight = _lora_weight(self.document.prompt, self._selected.name)
        self.weight_slider.setEnabled(weight is not None)
        if weight is not None:
            with QSignalBlocker(self.weight_slider):
                self.weight_slider.setValue(round(weight * SLIDER_SCALE))
            self.weight_label.setText(f"Weight of {self._selected.name}: {weight:g}")

    def _on_weight_moved(self, value: int) -> None:
        if self._selected is None:
            return
        weight = value / SLIDER_SCALE
        self.document.prompt = _set_lora_weight(self.document.prompt, self._selected.name, weight)
