"""A slim, non-modal bar above the canvas that offers a choice: a line of text and a button per choice.

Used where the app may do something more for the user but must not ask with a blocking dialog
("Restore parameters" after clicking a gallery result, "Keep size" / "Scale" for a large image).
Nothing happens until a button is pressed; a newer offer replaces the old one; × dismisses it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

_STYLE = "background: #eef6ee; color: #1f3d1f; border: 1px solid #c3dec3; padding: 4px;"


class OfferBar(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("offer_bar")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setStyleSheet(_STYLE)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addWidget(self.label, stretch=1)
        self.buttons: list[QPushButton] = []
        self._close = QToolButton(text="×", autoRaise=True)
        self._close.setToolTip("Dismiss")
        self._close.clicked.connect(self.dismiss)
        self._layout.addWidget(self._close)
        self.topic = ""  # what the offer is about, so a caller can replace or keep its own
        self.hide()

    @property
    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""

    def offer(self, text: str, choices: Sequence[tuple[str, Callable[[], None]]], topic: str = "") -> None:
        """Show `text` with one button per (label, action); pressing one runs it and closes the bar."""
        self._clear_buttons()
        self.label.setText(text)
        self.topic = topic
        for label, action in choices:
            button = QPushButton(label)
            button.clicked.connect(lambda _=False, action=action: self._choose(action))
            self._layout.insertWidget(self._layout.count() - 1, button)
            self.buttons.append(button)
        self.show()

    def button(self, label: str) -> QPushButton | None:
        return next((b for b in self.buttons if b.text() == label), None)

    def dismiss(self, topic: str | None = None) -> None:
        """Close the offer (only if it is about `topic`, when one is given)."""
        if topic is not None and topic != self.topic:
            return
        self._clear_buttons()
        self.topic = ""
        self.hide()

    def _choose(self, action: Callable[[], None]) -> None:
        self.dismiss()
        action()

    def _clear_buttons(self) -> None:
        for button in self.buttons:
            self._layout.removeWidget(button)
            button.deleteLater()
        self.buttons = []
