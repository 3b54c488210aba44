"""The history panel: every recorded generation, newest first, found by words of its prompt.

A search box (words of the prompt; the list follows as you type), a model filter, and one row per
generation: the thumbnails of its results (a result whose file is gone is drawn crossed out, with a
tooltip saying where it was), the prompt, model and time, and a Restore button that puts the entry's
parameters back into the prompt panel with one click. "Compare" opens two ticked results side by side.
The panel reads through a `HistoryDatabase` it is given and only asks; the window decides what Restore
and Compare do (history_dock.py connects them).
"""

from __future__ import annotations

import time

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ldm_studio.engine.errors import LdmError
from ldm_studio.history.database import PAGE_SIZE, Generation, HistoryDatabase, ResultFile

THUMBNAIL = 56
ALL_MODELS = "All models"
SEARCH_DELAY_MS = 150  # typing a word does not query the database per letter


def thumbnail_pixmap(result: ResultFile) -> QPixmap:
    """The stored thumbnail, crossed out when the result file no longer exists."""
    pixmap = QPixmap()
    if not (result.thumbnail and pixmap.loadFromData(result.thumbnail)):
        pixmap = QPixmap(THUMBNAIL, THUMBNAIL)
        pixmap.fill(QColor(90, 90, 90))
    pixmap = pixmap.scaled(THUMBNAIL, THUMBNAIL, Qt.AspectRatioMode.KeepAspectRatio)
    if not result.exists:
        painter = QPainter(pixmap)
        painter.fillRect(pixmap.rect(), QColor(255, 255, 255, 150))
        painter.setPen(QPen(QColor(200, 30, 30), 3))
        painter.drawLine(0, 0, pixmap.width(), pixmap.height())
        painter.drawLine(0, pixmap.height(), pixmap.width(), 0)
        painter.end()
    return pixmap


class EntryRow(QWidget):
    """One generation: thumbnails with a tick box each, what it was, Restore."""

    def __init__(self, entry: Generation, panel: HistoryPanel) -> None:
        super().__init__()
        self.entry = entry
        self.ticks: list[QCheckBox] = []
        thumbs = QHBoxLayout()
        thumbs.setSpacing(2)
        for result in entry.results:
            label = QLabel()
            label.setPixmap(thumbnail_pixmap(result))
            where = result.path or "never saved"
            label.setToolTip(f"seed {result.seed}: {where}" + ("" if result.exists else " (missing)"))
            tick = QCheckBox()
            tick.setToolTip("Tick two results and press Compare")
            tick.setEnabled(result.exists)
            tick.toggled.connect(lambda _checked: panel._update_compare())
            self.ticks.append(tick)
            cell = QVBoxLayout()
            cell.addWidget(label)
            cell.addWidget(tick, alignment=Qt.AlignmentFlag.AlignHCenter)
            thumbs.addLayout(cell)
        missing = sum(not r.exists for r in entry.results)
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.created))
        first_line = entry.prompt.splitlines()[0] if entry.prompt.strip() else "(no prompt)"
        self.text = QLabel(
            f"{first_line}\n{entry.model_name} · {when}" + (f" · {missing} missing" if missing else "")
        )
        self.text.setToolTip(entry.prompt + (f"\nNegative: {entry.negative}" if entry.negative else ""))
        self.text.setWordWrap(True)
        self.restore_button = QPushButton("Restore")
        self.restore_button.setToolTip("Put this generation's prompt, model and settings back")
        self.restore_button.clicked.connect(lambda: panel.restoreRequested.emit(entry))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(thumbs)
        layout.addWidget(self.text, stretch=1)
        layout.addWidget(self.restore_button)

    def ticked(self) -> list[ResultFile]:
        return [r for r, tick in zip(self.entry.results, self.ticks, strict=True) if tick.isChecked()]


class HistoryPanel(QWidget):
    restoreRequested = Signal(object)  # Generation
    compareRequested = Signal(object, object)  # two ResultFile
    errorOccurred = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.database: HistoryDatabase | None = None
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search the prompts of the history")
        self.search_edit.setClearButtonEnabled(True)
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("Only the generations of this model")
        self.list = QListWidget()
        self.list.setVerticalScrollMode(QListWidget.ScrollMode.ScrollPerPixel)
        self.more_button = QPushButton("More…")
        self.more_button.clicked.connect(self.load_more)
        self.compare_button = QPushButton("Compare")
        self.compare_button.setToolTip("Tick two results, then compare them side by side or with a slider")
        self.compare_button.clicked.connect(self._compare)
        self.status = QLabel()
        self.status.setWordWrap(True)

        top = QHBoxLayout()
        top.addWidget(self.search_edit, stretch=1)
        top.addWidget(self.model_combo)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, stretch=1)
        bottom.addWidget(self.compare_button)
        bottom.addWidget(self.more_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.list, stretch=1)
        layout.addLayout(bottom)

        self._timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._timer.timeout.connect(self.refresh)
        self.search_edit.textChanged.connect(lambda _: self._timer.start())
        self.model_combo.activated.connect(lambda _: self.refresh())
        self._shown = 0
        self._update_compare()

    def set_database(self, database: HistoryDatabase | None) -> None:
        self.database = database
        self.refresh()

    @property
    def rows(self) -> list[EntryRow]:
        return [self.list.itemWidget(self.list.item(i)) for i in range(self.list.count())]

    def model_filter(self) -> str | None:
        name = self.model_combo.currentText()
        return None if self.model_combo.currentIndex() <= 0 or not name else name

    def refresh(self) -> None:
        """Search again from the first page (after typing, a filter change or a new generation)."""
        self._timer.stop()
        self.list.clear()
        self._shown = 0
        self._fill_models()
        self.load_more()

    def load_more(self) -> None:
        """The next page of the current search."""
        if self.database is None:
            self.status.setText("The history is not available.")
            self.more_button.setEnabled(False)
            return
        try:
            page = self.database.search(
                self.search_edit.text(), model=self.model_filter(), limit=PAGE_SIZE, offset=self._shown
            )
        except LdmError as exc:
            self.errorOccurred.emit(str(exc))
            return
        for entry in page:
            row = EntryRow(entry, self)
            item = QListWidgetItem()
            item.setSizeHint(row.sizeHint().expandedTo(QSize(0, THUMBNAIL + 30)))
            self.list.addItem(item)
            self.list.setItemWidget(item, row)
        self._shown += len(page)
        self.more_button.setEnabled(len(page) == PAGE_SIZE)
        words = self.search_edit.text().strip()
        self.status.setText(
            f"{self._shown} found for “{words}”" if words else f"{self._shown} shown, newest first"
        )
        self._update_compare()

    def _fill_models(self) -> None:
        chosen = self.model_combo.currentText() if self.model_combo.currentIndex() > 0 else None
        try:
            names = self.database.models() if self.database is not None else []
        except LdmError:
            names = []
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        self.model_combo.addItem(ALL_MODELS)
        self.model_combo.addItems(names)
        self.model_combo.setCurrentIndex(max(0, self.model_combo.findText(chosen)) if chosen else 0)
        self.model_combo.blockSignals(False)

    def ticked(self) -> list[ResultFile]:
        return [result for row in self.rows for result in row.ticked()]

    def _update_compare(self) -> None:
        self.compare_button.setEnabled(len(self.ticked()) == 2)

    def _compare(self) -> None:
        ticked = self.ticked()
        if len(ticked) == 2:
            self.compareRequested.emit(*ticked)
