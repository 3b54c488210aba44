"""The styles row of the prompt panel: apply a named prompt snippet, save one, import A1111's styles.csv.

Choosing a style in the combobox applies it to the document's prompt and negative prompt at once
(A1111's `{prompt}` rule, history/styles.py). The menu beside it saves the current prompts as a new
style and imports a user's A1111 styles.csv (merged into ours; the imported file is only read). When
our own styles.csv cannot be read it is left alone: the row says why and writes nothing to it.
`install_styles(window)` puts the row beside the Generate button.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QMenu,
    QToolButton,
    QWidget,
)

from ldm_studio.gui.document import Document
from ldm_studio.history.styles import FILE_NAME, Style, StylesError, apply_style, import_styles, read_styles
from ldm_studio.history.styles import write_styles as write_styles_file

CHOOSE = "Apply a style…"


def _ask_name(parent: QWidget) -> str:
    name, ok = QInputDialog.getText(parent, "Save as style", "Name of the new style:")
    return name if ok else ""


def _ask_import_path(parent: QWidget) -> str:
    path, _ = QFileDialog.getOpenFileName(parent, "Import A1111 styles", "", "Styles (*.csv);;All files (*)")
    return path


class StylesBar(QWidget):
    message = Signal(str)
    errorOccurred = Signal(str)

    def __init__(self, document: Document, path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.path = Path(path)
        self.ask_name: Callable[[QWidget], str] = _ask_name
        self.ask_import_path: Callable[[QWidget], str] = _ask_import_path
        self.styles: list[Style] = []
        self.problem = ""  # why our styles.csv cannot be read; nothing is written to it then
        self.combo = QComboBox()
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(10)  # long style names must not widen the panel
        self.combo.setToolTip("Add a named style to the prompt and the negative prompt")
        self.combo.activated.connect(self._apply_index)
        self.menu = QMenu(self)
        self.save_action = self.menu.addAction("Save the prompts as a style…", self.save_current)
        self.import_action = self.menu.addAction("Import A1111 styles.csv…", self.import_dialog)
        self.menu.addAction("Read styles.csv again", self.reload)
        button = QToolButton(text="Styles", popupMode=QToolButton.ToolButtonPopupMode.InstantPopup)
        button.setMenu(self.menu)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo, stretch=1)
        layout.addWidget(button)

    def reload(self) -> None:
        try:
            self.styles, self.problem = read_styles(self.path), ""
        except StylesError as exc:
            self.styles, self.problem = [], f"{exc}. Styles are read-only until it is fixed or moved."
            self.errorOccurred.emit(self.problem)
        self.combo.clear()
        self.combo.addItem(CHOOSE)
        for style in self.styles:
            self.combo.addItem(style.name)
            tip = style.prompt + (f"\nNegative: {style.negative_prompt}" if style.negative_prompt else "")
            self.combo.setItemData(self.combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.combo.setEnabled(bool(self.styles))

    def apply(self, name: str) -> None:
        style = next((s for s in self.styles if s.name == name), None)
        if style is None:
            return
        document = self.document
        document.prompt, document.negative_prompt = apply_style(
            style, document.prompt, document.negative_prompt
        )
        self.message.emit(f"Applied the style “{name}”")

    def _apply_index(self, index: int) -> None:
        if index > 0:
            self.apply(self.combo.itemText(index))
        self.combo.setCurrentIndex(0)

    def _writable(self) -> bool:
        if self.problem:
            self.errorOccurred.emit(self.problem)
        return not self.problem

    def save_current(self) -> None:
        if not self._writable():
            return
        name = self.ask_name(self).strip()
        if not name:
            return
        if any(s.name == name for s in self.styles):
            self.errorOccurred.emit(f"A style named “{name}” exists already: choose another name.")
            return
        new = Style(name, self.document.prompt, self.document.negative_prompt)
        try:
            write_styles_file(self.path, [*self.styles, new])
        except StylesError as exc:
            self.errorOccurred.emit(str(exc))
            return
        self.reload()
        self.message.emit(f"Saved the style “{name}” in {self.path}")

    def import_dialog(self) -> None:
        chosen = self.ask_import_path(self)
        if chosen:
            self.import_file(Path(chosen))

    def import_file(self, source: Path) -> None:
        if not self._writable():
            return
        try:
            report = import_styles(source, self.path)
        except StylesError as exc:
            self.errorOccurred.emit(str(exc))
            return
        self.reload()
        self.message.emit(report.summary(source))


def install_styles(window: Any) -> StylesBar:
    """Put the styles row under the negative prompt of the window's prompt panel."""
    panel = window.prompt_panel
    bar = StylesBar(window.document, window.settings.data_folder / FILE_NAME, panel)
    # In the row of Generate: a row of its own would make the panel taller than small screens allow.
    panel.generate_button.parentWidget().layout().insertWidget(0, bar, 1)
    bar.message.connect(lambda text: window.status.showMessage(text, 8000))
    bar.errorOccurred.connect(window.notice.show_error)
    bar.reload()
    return bar
