"""The Edit menu's Undo / Redo and the View menu, routed between the canvas and text fields.

Undo acts on the canvas unless a text field has focus: then it is that field's own undo (Qt gives
a focused text field Ctrl+Z before window shortcuts; the menu entries follow the same rule). The entries
say which they will undo: "Undo typing", "Undo stroke", "Undo result", "Undo invert mask", …
The canvas's order (its strokes, then the image before a result) is in canvas/history_steps.py.

View: Fit (Ctrl+0: the whole image, small ones enlarged) and 100% (Ctrl+1: actual pixels), one key
away wherever the focus is.
"""

from __future__ import annotations

import contextlib

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QLineEdit,
    QMainWindow,
    QMenu,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

TEXT_FIELDS = (QLineEdit, QPlainTextEdit, QTextEdit)
_STEP_NAMES = {"Brush stroke": "stroke", "Eraser stroke": "stroke", "Result": "result"}


def focused_text_field() -> QWidget | None:
    """The editable text field that has the keyboard focus, or None (a spin box counts by its text)."""
    widget = QApplication.focusWidget()
    if isinstance(widget, QAbstractSpinBox):
        widget = widget.findChild(QLineEdit)
    if isinstance(widget, TEXT_FIELDS) and not widget.isReadOnly():
        return widget
    return None


def text_can_undo(field: QWidget, redo: bool = False) -> bool:
    if isinstance(field, QLineEdit):
        return field.isRedoAvailable() if redo else field.isUndoAvailable()
    document = field.document()
    return document.isRedoAvailable() if redo else document.isUndoAvailable()


def step_name(label: str | None) -> str:
    """A canvas history label as the menu says it: "Brush stroke" → "stroke", "Invert mask" → "invert
    mask"."""
    if not label:
        return ""
    return _STEP_NAMES.get(label, label.lower())


def find_menu(window: QMainWindow, title: str) -> QMenu | None:
    for action in window.menuBar().actions():
        if action.menu() is not None and action.text().replace("&", "") == title:
            return action.menu()
    return None


class EditRouter(QObject):
    """Sends Undo / Redo to the focused text field or the canvas and keeps the entries' text true."""

    def __init__(self, window: QMainWindow, canvas, undo_action: QAction, redo_action: QAction) -> None:
        super().__init__(window)
        self.canvas, self.undo_action, self.redo_action = canvas, undo_action, redo_action
        for action, slot in ((undo_action, self.undo), (redo_action, self.redo)):
            action.triggered.disconnect()  # was the canvas alone
            action.triggered.connect(slot)
        canvas.historyChanged.connect(self.refresh)
        QApplication.instance().focusChanged.connect(self._focus_changed)
        self._watched: QWidget | None = None
        self.refresh()

    def undo(self) -> None:
        field = focused_text_field()
        if field is not None:
            field.undo()
        else:
            self.canvas.undo()
        self.refresh()

    def redo(self) -> None:
        field = focused_text_field()
        if field is not None:
            field.redo()
        else:
            self.canvas.redo()
        self.refresh()

    def refresh(self) -> None:
        field = focused_text_field()
        if field is not None:
            undo, redo = ("typing", text_can_undo(field)), ("typing", text_can_undo(field, redo=True))
        else:
            undo = (step_name(self.canvas.undo_label()), self.canvas.can_undo())
            redo = (step_name(self.canvas.redo_label()), self.canvas.can_redo())
        for action, verb, (name, enabled) in (
            (self.undo_action, "Undo", undo),
            (self.redo_action, "Redo", redo),
        ):
            action.setText(f"{verb} {name}" if name and enabled else verb)
            action.setEnabled(enabled)

    def _focus_changed(self, old: QWidget | None, new: QWidget | None) -> None:
        # Typing in the newly focused field changes what Undo does: follow its edits while it has focus.
        if self._watched is not None:
            signal = getattr(self._watched, "textChanged", None)
            if signal is not None:
                with contextlib.suppress(RuntimeError, TypeError):  # the field is gone
                    signal.disconnect(self.refresh)
            self._watched = None
        field = focused_text_field()
        if field is not None:
            field.textChanged.connect(self.refresh)
            self._watched = field
        self.refresh()


def install_edit_router(window: QMainWindow) -> EditRouter:
    """Route the window's Undo / Redo (window.undo_action, window.redo_action) through an EditRouter;
    the Edit menu refreshes their text whenever it opens."""
    router = EditRouter(window, window.canvas, window.undo_action, window.redo_action)
    edit_menu = find_menu(window, "Edit")
    if edit_menu is not None:
        edit_menu.aboutToShow.connect(router.refresh)
    return router


def install_view_menu(window: QMainWindow) -> tuple[QAction, QAction]:
    """A View menu with Fit (Ctrl+0) and 100% (Ctrl+1), window-wide; returns (fit, actual size)."""
    canvas = window.canvas
    fit = QAction("Fit to window", window)
    fit.setShortcut(QKeySequence("Ctrl+0"))
    fit.setToolTip("The whole image in the canvas, small images enlarged (Ctrl+0)")
    fit.triggered.connect(canvas.fit_to_window)
    actual = QAction("Actual size (100%)", window)
    actual.setShortcut(QKeySequence("Ctrl+1"))
    actual.setToolTip("One image pixel per screen pixel (Ctrl+1)")
    actual.triggered.connect(canvas.zoom_to_100)
    view_menu = QMenu("&View", window)
    view_menu.addActions([fit, actual])
    for action in (fit, actual):
        window.addAction(action)  # the shortcuts work wherever the focus is
    generate_menu = find_menu(window, "Generate")
    if generate_menu is not None:
        window.menuBar().insertMenu(generate_menu.menuAction(), view_menu)
    else:
        window.menuBar().addMenu(view_menu)
    return fit, actual
