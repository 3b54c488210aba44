"""Completing LoRA tags and embedding words in a prompt box, as the user types.

`<lora:` followed by the start of a name offers the LoRA folder's names and completes to
`<lora:NAME:1>`; a word of two or more letters that starts an embedding's name offers the embeddings.
What to complete is decided by `completion_context` (plain text in, no Qt), the popup is Qt's QCompleter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from PySide6.QtCore import QObject, QStringListModel, Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QCompleter, QPlainTextEdit

_OPEN_TAG = re.compile(r"<(?:lora|lyco):([^:<>\s]*)$", re.IGNORECASE)
_WORD = re.compile(r"[\w\-.]+$")
MIN_WORD = 2  # letters before embedding names are offered: one letter would offer all of them


@dataclass(frozen=True)
class Context:
    kind: str  # "lora" or "embedding"
    start: int  # where the text to replace starts (the `<` of a tag, or the word's first letter)
    prefix: str  # what the user has typed of the name


def completion_context(text: str, cursor: int, embeddings: list[str]) -> Context | None:
    """What to complete at `cursor` in `text`, or None."""
    before = text[:cursor]
    tag = _OPEN_TAG.search(before)
    if tag:
        return Context("lora", tag.start(), tag.group(1))
    word = _WORD.search(before)
    if word and len(word.group(0)) >= MIN_WORD:
        prefix = word.group(0).lower()
        if any(name.lower().startswith(prefix) and name.lower() != prefix for name in embeddings):
            return Context("embedding", word.start(), word.group(0))
    return None


def completed(kind: str, name: str) -> str:
    return f"<lora:{name}:1>" if kind == "lora" else name


class PromptCompleter(QObject):
    """A completion popup for one prompt box, fed with the LoRA and embedding names."""

    def __init__(self, edit: QPlainTextEdit) -> None:
        super().__init__(edit)
        self.edit = edit
        self.loras: list[str] = []
        self.embeddings: list[str] = []
        self.context: Context | None = None
        self.model = QStringListModel(self)
        self.completer = QCompleter(self.model, self)
        self.completer.setWidget(edit)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.completer.activated.connect(self.insert)
        edit.textChanged.connect(self._update)

    def set_names(self, loras: list[str], embeddings: list[str]) -> None:
        self.loras, self.embeddings = sorted(loras, key=str.lower), sorted(embeddings, key=str.lower)

    def _update(self) -> None:
        if not self.edit.hasFocus():
            return  # a change from elsewhere (a dropped PNG, the LoRAs dock), not typing
        cursor = self.edit.textCursor().position()
        self.context = completion_context(self.edit.toPlainText(), cursor, self.embeddings)
        names = {"lora": self.loras, "embedding": self.embeddings}.get(
            self.context.kind if self.context else ""
        )
        if not names:
            self.completer.popup().hide()
            return
        self.model.setStringList(names)
        self.completer.setCompletionPrefix(self.context.prefix)
        if self.completer.completionCount() == 0:
            self.completer.popup().hide()
            return
        rect = self.edit.cursorRect()
        rect.setWidth(240)
        self.completer.complete(rect)

    def insert(self, name: str) -> None:
        """Replace what was typed of the tag or word with the completed one."""
        context = self.context
        if context is None:
            return
        cursor = self.edit.textCursor()
        end = cursor.position()
        cursor.setPosition(context.start)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        cursor.insertText(completed(context.kind, name))
        self.edit.setTextCursor(cursor)
        self.context = None
        self.completer.popup().hide()
