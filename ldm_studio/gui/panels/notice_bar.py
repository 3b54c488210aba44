"""A slim bar above the canvas for messages the user must read: errors stay until closed, news fades.

Used instead of modal message boxes so an error never blocks the window (or a test) and the next
Generate works straight away.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

INFO_MS = 8000
_STYLES = {
    "error": "background: #fdecea; color: #7f1d1d; border: 1px solid #f5c2c0; padding: 4px;",
    "info": "background: #e8f1fb; color: #1e3a5f; border: 1px solid #bcd4f0; padding: 4px;",
}


class NoticeBar(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.label.setWordWrap(True)
        close = QToolButton(text="×", autoRaise=True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, stretch=1)
        layout.addWidget(close)
        self.kind = ""
        self._timer = QTimer(self, singleShot=True, interval=INFO_MS)
        self._timer.timeout.connect(self.dismiss)
        self.hide()

    @property
    def text(self) -> str:
        return self.label.text() if self.kind else ""

    def show_error(self, text: str) -> None:
        self._show(text, "error")
        self._timer.stop()  # an error waits for the user

    def show_info(self, text: str) -> None:
        if self.kind == "error" and self.isVisible():
            return  # news must not hide an error the user has not read yet
        self._show(text, "info")
        self._timer.start()

    def _show(self, text: str, kind: str) -> None:
        self.kind = kind
        self.label.setText(text)
        self.label.setStyleSheet(_STYLES[kind])
        self.show()

    def dismiss(self) -> None:
        self.kind = ""
        self._timer.stop()
        self.hide()
