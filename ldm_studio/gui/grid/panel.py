"""The X/Y/Z plot panel: three axis rows (a name and its values), Run and Cancel, the grid as it fills in.

Run takes the window's current settings as the base request, reads every axis value (a bad one is said
on the panel's message line and nothing runs), shows the empty grid and queues its cells. Each cell
then shows its previews and its image in its place; double-clicking a finished cell opens it as an
ordinary result (`openResult`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.grids.axes import AXIS_KINDS, ModelFacts
from ldm_studio.engine.grids.plan import LETTERS, build_plan
from ldm_studio.engine.requests import GenerationRequest
from ldm_studio.gui.grid.controller import GridRun
from ldm_studio.gui.grid.view import GridView
from ldm_studio.gui.jobs.runner import JobRunner

NO_AXIS = "—"
EXAMPLES = {
    "seed": "1, 2, 3   or   1-4",
    "cfg": "3, 5, 7   or   3-9 (+2)",
    "steps": "10, 20, 30   or   10-30 (+10)",
    "sampler": "Euler, Euler a, DPM++ 2M",
    "schedule": "normal, karras, trailing",
    "model": "file names in the models folder",
    "lora_weight": "NAME:0.2, 0.6, 1   (NAME: a <lora:NAME> of the prompt)",
    "size": "512x512, 768x512",
    "denoise": "0.3, 0.5, 0.7   or   0.2-0.8 [4]",
    "prompt_sr": 'red, blue, "green, bright"   (the first must be in the prompt)',
}


class GridPanel(QWidget):
    openResult = Signal(object)  # ResultImage of a double-clicked cell
    started = Signal()
    message = Signal(str)  # for the status bar

    def __init__(
        self,
        runner: JobRunner,
        base_request: Callable[[], GenerationRequest],
        *,
        models_folder: Callable[[], Path | None],
        describe_model: Callable[[str], ModelFacts],
        output_folder: Callable[[], Path],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self._base_request, self._models_folder = base_request, models_folder
        self._describe_model, self._output_folder = describe_model, output_folder
        self.grid_run: GridRun | None = None
        self.names: dict[str, QComboBox] = {}
        self.values: dict[str, QLineEdit] = {}

        axes = QGridLayout()
        for row, letter in enumerate(LETTERS):
            name = QComboBox()
            name.setObjectName(f"grid_axis_{letter.lower()}")
            name.addItems([NO_AXIS, *AXIS_KINDS])
            values = QLineEdit()
            values.setObjectName(f"grid_values_{letter.lower()}")
            values.setEnabled(False)
            name.currentTextChanged.connect(lambda text, field=values: self._on_axis_chosen(text, field))
            values.returnPressed.connect(self.start)
            axes.addWidget(QLabel(f"{letter}:"), row, 0)
            axes.addWidget(name, row, 1)
            axes.addWidget(values, row, 2)
            self.names[letter], self.values[letter] = name, values
        axes.setColumnStretch(2, 1)

        self.run_button = QPushButton("Run grid")
        self.run_button.setObjectName("grid_run")
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel grid")
        self.cancel_button.setObjectName("grid_cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.status = QLabel("Choose up to three axes; the grid uses the current settings for the rest.")
        self.status.setObjectName("grid_message")
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.status, stretch=1)

        self.view = GridView()
        self.view.cellActivated.connect(self._open_cell)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.view)
        layout = QVBoxLayout(self)
        layout.addLayout(axes)
        layout.addLayout(buttons)
        layout.addWidget(scroll, stretch=1)

    def _on_axis_chosen(self, name: str, field: QLineEdit) -> None:
        field.setEnabled(name != NO_AXIS)
        field.setPlaceholderText(EXAMPLES.get(name, ""))

    def axis_texts(self) -> list[str | None]:
        """What each row asks for, as `name=values` (None for a row without an axis)."""
        texts: list[str | None] = []
        for letter in LETTERS:
            name = self.names[letter].currentText()
            texts.append(None if name == NO_AXIS else f"{name}={self.values[letter].text()}")
        return texts

    def start(self) -> GridRun | None:
        """Check the axes on the current settings and queue the cells; a bad value runs nothing."""
        if self.grid_run is not None and self.grid_run.running:
            return None
        try:
            base = self._base_request()
            plan = build_plan(
                base,
                *self.axis_texts(),
                models_folder=self._models_folder(),
                describe_model=self._describe_model,
            )
        except InputError as exc:
            self._say(str(exc), error=True)
            return None
        output = self._output_folder()
        self.view.set_plan(plan)
        run = GridRun(self.runner, plan, output, output / "grids", self)
        run.cellStarted.connect(lambda index: self.view.cells[index].set_state("running"))
        run.cellPreview.connect(self._on_preview)
        run.cellDone.connect(self._on_cell_done)
        run.finished.connect(self._on_finished)
        run.gridSaved.connect(self._on_grid_saved)
        self.grid_run = run
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._done = 0
        self._say(f"Running {len(plan.cells)} cells…")
        self.started.emit()
        run.start()
        return run

    def cancel(self) -> None:
        if self.grid_run is not None and self.grid_run.running:
            self.grid_run.cancel()

    def _on_preview(self, index: int, image: QImage) -> None:
        self.view.cells[index].show_image(image)

    def _on_cell_done(self, index: int, result) -> None:
        cell = self.view.cells[index]
        cell.show_image(result.image)
        cell.set_state("done")
        self._done += 1
        self._say(f"{self._done} of {len(self.view.cells)} cells done")

    def _on_finished(self, state: str, reason: str) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        for cell in self.view.cells:
            if cell.state != "done":
                cell.set_state("cancelled")
        if state == "failed":
            self._say(f"The grid stopped: {reason}", error=True)
        elif state == "cancelled":
            self._say(f"Cancelled: {self._done} of {len(self.view.cells)} cells done (saved); no grid image.")
        else:
            self._say("All cells done: composing the grid image…")

    def _on_grid_saved(self, path: Path | None, text: str) -> None:
        self._say(text, error=path is None)
        self.message.emit(text)

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #c0392b" if error else "")

    def _open_cell(self, index: int) -> None:
        if self.grid_run is not None and index in self.grid_run.results:
            self.openResult.emit(self.grid_run.results[index])
