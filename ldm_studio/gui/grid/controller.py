"""One X/Y/Z plot run in the window: every cell an ordinary job of the window's job runner.

The cells are queued in the plan's run order (those of one model together, so the worker, which keeps
its loaded model between jobs, loads each model once). Each one is run and saved by the worker like any
Generate: its previews and result come back through the runner's signals, which this object maps to the
cell they belong to (a job's previews and result arrive between its `started` and `jobFinished`). When
every cell has finished, the labelled grid is composed and saved on a helper thread (a big PNG takes a
second to write). Cancel stops the running cell within a step and drops the queued ones; a cell that
fails stops the grid. The grid image is written only when every cell finished.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QImage

from ldm_studio.engine.errors import LdmError
from ldm_studio.engine.grids.plan import GridCell, GridPlan
from ldm_studio.gui.jobs.queue import Job, JobState
from ldm_studio.gui.jobs.runner import JobRunner
from ldm_studio.gui.jobs.worker import ResultImage
from ldm_studio.gui.qt_images import qimage_to_array

log = logging.getLogger(__name__)


class GridRun(QObject):
    cellStarted = Signal(int)  # cell index (GridPlan.cells)
    cellPreview = Signal(int, QImage)
    cellDone = Signal(int, object)  # cell index, ResultImage
    finished = Signal(str, str)  # "finished" / "cancelled" / "failed", the reason for the user
    gridSaved = Signal(object, str)  # the grid file's Path (None when it could not be saved), a message

    def __init__(
        self, runner: JobRunner, plan: GridPlan, output_folder: Path, grid_folder: Path, parent=None
    ):
        super().__init__(parent)
        self.runner, self.plan = runner, plan
        self.output_folder, self.grid_folder = output_folder, grid_folder
        self.results: dict[int, ResultImage] = {}
        self._arrays: dict[int, np.ndarray] = {}
        self._jobs: dict[int, tuple[Job, GridCell]] = {}  # job id -> (job, cell)
        self._current: GridCell | None = None
        self._failure = ""
        self.state = "idle"  # running / finished / cancelled / failed
        self._compose_thread: threading.Thread | None = None
        self._submitted = self._checking = False

    @property
    def running(self) -> bool:
        return self.state == "running"

    def start(self) -> None:
        self.state = "running"
        runner = self.runner
        runner.started.connect(self._on_started)
        runner.preview.connect(self._on_preview)
        runner.result.connect(self._on_result)
        runner.jobFinished.connect(self._on_job_finished)
        runner.queue.changed.connect(self._check_done)
        for cell in self.plan.run_order():
            job = runner.submit(cell.request, self.output_folder)
            self._jobs[job.id] = (job, cell)
        self._submitted = True
        self._check_done()

    def cancel(self) -> None:
        """Stop this grid's cells (other jobs in the queue are left alone)."""
        for job, _ in self._jobs.values():
            self.runner.queue.cancel(job)
        self._check_done()

    def _cell_of(self, job: Job) -> GridCell | None:
        entry = self._jobs.get(job.id)
        return entry[1] if entry is not None and entry[0] is job else None

    @Slot(object)
    def _on_started(self, job: Job) -> None:
        self._current = self._cell_of(job)
        if self._current is not None:
            self.cellStarted.emit(self._current.index)

    @Slot(QImage, object)
    def _on_preview(self, image: QImage, box) -> None:
        if self._current is not None:
            self.cellPreview.emit(self._current.index, image)

    @Slot(list)
    def _on_result(self, results: list) -> None:
        if self._current is not None and results:
            index = self._current.index
            self.results[index] = results[0]
            self._arrays[index] = qimage_to_array(results[0].image)
            self.cellDone.emit(index, results[0])

    @Slot(object)
    def _on_job_finished(self, job: Job) -> None:
        if self._cell_of(job) is not None:
            self._current = None
        self._check_done()

    @Slot()
    def _check_done(self) -> None:
        """Finish once every cell's job is done; a failed cell cancels the others first."""
        if not self.running or not self._submitted or self._checking:
            return
        self._checking = True  # cancelling below changes the queue, which calls back here
        try:
            jobs = [job for job, _ in self._jobs.values()]
            failed = next((job for job in jobs if job.state is JobState.FAILED), None)
            if failed is not None and not self._failure:
                self._failure = failed.message or "a cell failed"
                for job in jobs:  # the rest would likely fail the same way
                    self.runner.queue.cancel(job)
            if all(job.state.is_done for job in jobs):
                self._finish()
        finally:
            self._checking = False

    def _finish(self) -> None:
        for signal, slot in (
            (self.runner.started, self._on_started),
            (self.runner.preview, self._on_preview),
            (self.runner.result, self._on_result),
            (self.runner.jobFinished, self._on_job_finished),
            (self.runner.queue.changed, self._check_done),
        ):
            signal.disconnect(slot)
        if self._failure:
            self.state = "failed"
        elif len(self.results) == len(self.plan.cells):
            self.state = "finished"
            self._compose_thread = threading.Thread(target=self._compose, name="ldm-studio-grid", daemon=True)
            self._compose_thread.start()
        else:
            self.state = "cancelled"
        self.finished.emit(self.state, self._failure)

    def _compose(self) -> None:
        """On the helper thread: compose and save the grid with the base request's parameters."""
        from PIL import Image

        from ldm_studio.engine.grids.compose import compose_grid, grid_infotext
        from ldm_studio.engine.metadata import format_infotext, parse_infotext
        from ldm_studio.engine.outputs import save_png_atomic

        try:
            images = {index: Image.fromarray(array) for index, array in self._arrays.items()}
            grid, _ = compose_grid(self.plan, images)
            base = self.plan.base
            first = self.results[self.plan.run_order()[0].index].infotext
            model = parse_infotext(first).get("Model", "") if first else ""
            text = grid_infotext(format_infotext(base, seed=base.seed, model_name=model), self.plan)
            path = save_png_atomic(grid, text, base, self.grid_folder)
        except (OSError, LdmError) as exc:
            self.gridSaved.emit(None, f"The grid could not be saved: {exc}. Its cells are saved.")
            return
        except Exception as exc:  # a bug: say so rather than leave the user waiting
            log.warning("composing the grid failed", exc_info=True)
            self.gridSaved.emit(None, f"The grid could not be composed ({type(exc).__name__}: {exc}).")
            return
        self.gridSaved.emit(path, f"Grid saved: {path.name} in {path.parent}")
