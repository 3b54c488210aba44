"""Two-way bindings between a document field and a widget.

The widget writes the field when the user edits it; the field's `changed` signal writes the widget back.
Writing back also shows the value the document actually kept (a width of 517 becomes 512), and signals
are blocked while doing so, so an update never echoes into a loop.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QSignalBlocker
from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QDoubleSpinBox,
    QPlainTextEdit,
    QSpinBox,
    QTabBar,
    QWidget,
)

from ldm_studio.gui.document import Document


def _follow(document: Document, name: str, widget: QWidget, show: Callable[[Any], None]) -> None:
    """Call `show(value)` now and whenever the field changes, for as long as the widget exists."""

    def on_changed(changed: str) -> None:
        if changed == name:
            show(getattr(document, name))

    def forget() -> None:
        with contextlib.suppress(RuntimeError):  # the document may be gone already
            document.changed.disconnect(on_changed)

    show(getattr(document, name))
    document.changed.connect(on_changed)
    widget.destroyed.connect(forget)


def _write(document: Document, name: str, value: Any, show: Callable[[Any], None]) -> None:
    with contextlib.suppress(TypeError, ValueError):
        setattr(document, name, value)
    show(getattr(document, name))  # the kept value, which may differ from the typed one


def bind_spin(document: Document, name: str, spin: QSpinBox | QDoubleSpinBox) -> None:
    spin.setKeyboardTracking(False)  # typing "12" must not set 1 first

    def show(value: Any) -> None:
        with QSignalBlocker(spin):
            spin.setValue(value)

    _follow(document, name, spin, show)
    spin.valueChanged.connect(lambda value: _write(document, name, value, show))


def bind_check(document: Document, name: str, button: QAbstractButton) -> None:
    button.setCheckable(True)

    def show(value: Any) -> None:
        with QSignalBlocker(button):
            button.setChecked(bool(value))

    _follow(document, name, button, show)
    button.toggled.connect(lambda checked: _write(document, name, checked, show))


def bind_choice(document: Document, name: str, combo: QComboBox, choices: dict[str, str]) -> None:
    """A combo box of `choices` (value → label) bound to a field holding the value."""
    combo.clear()
    for value, label in choices.items():
        combo.addItem(label, value)

    def show(value: Any) -> None:
        with QSignalBlocker(combo):
            combo.setCurrentIndex(max(0, combo.findData(value)))

    _follow(document, name, combo, show)
    combo.currentIndexChanged.connect(lambda index: _write(document, name, combo.itemData(index), show))


def bind_tabs(document: Document, name: str, tabs: QTabBar, values: Sequence[str]) -> None:
    """A tab bar whose tabs stand for `values` in order."""

    def show(value: Any) -> None:
        with QSignalBlocker(tabs):
            tabs.setCurrentIndex(values.index(value))

    _follow(document, name, tabs, show)
    tabs.currentChanged.connect(lambda index: _write(document, name, values[index], show))


def bind_text(document: Document, name: str, edit: QPlainTextEdit) -> None:
    def show(value: Any) -> None:
        if edit.toPlainText() != value:  # rewriting the same text would move the cursor
            with QSignalBlocker(edit):
                edit.setPlainText(value)

    _follow(document, name, edit, show)
    edit.textChanged.connect(lambda: _write(document, name, edit.toPlainText(), show))
