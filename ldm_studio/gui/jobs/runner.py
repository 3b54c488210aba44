"""Runs the queue's jobs on the worker thread, one at a time, in the order they were submitted.

Lives in the GUI thread. It owns the QThread and the Worker, hands the worker the next queued job when
the previous one finishes, and records how each job ended in the queue. Its signals repeat the
worker's in the GUI thread, so widgets (and tests) connect here and never run code in the worker thread.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtGui import QImage

from ldm_studio.engine.requests import GenerationRequest
from ldm_studio.gui.jobs.engine_api import EngineApi
from ldm_studio.gui.jobs.queue import Job, JobQueue, JobState
from ldm_studio.gui.jobs.worker import Worker


class JobRunner(QObject):
    _send = Signal(object)  # crosses to the worker thread (queued connection)
    _warm = Signal()  # likewise
    # The worker's signals, delivered in the GUI thread (see Worker for their arguments).
    modelLoading = Signal(str)
    modelLoaded = Signal(object)
    started = Signal(object)
    progress = Signal(int, int)
    stage = Signal(str)
    preview = Signal(QImage, object)
    result = Signal(list)
    warning = Signal(str)
    error = Signal(str)
    cancelled = Signal()
    jobFinished = Signal(object)  # the Job, its final state already recorded in the queue
    idle = Signal()  # nothing executing and nothing queued

    def __init__(self, queue: JobQueue, engine: EngineApi | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.queue = queue
        self.worker = Worker(engine)
        self._thread = QThread()
        self._thread.setObjectName("ldm-studio-worker")
        self.worker.moveToThread(self._thread)
        self._send.connect(self.worker.run_job)
        self._warm.connect(self.worker.warm_up)
        for name in ("modelLoading", "modelLoaded", "started", "progress", "stage", "preview", "warning"):
            getattr(self.worker, name).connect(getattr(self, name))
        # Bound slots of this GUI-thread object, so Qt queues them into the GUI thread in emit order.
        self._outcome: tuple[JobState, str] = (JobState.FINISHED, "")
        self.worker.result.connect(self._on_result)
        self.worker.error.connect(self._on_error)
        self.worker.cancelled.connect(self._on_cancelled)
        self.worker.finished.connect(self._on_finished)
        self._thread.started.connect(self.worker.yield_to_the_gui, Qt.ConnectionType.DirectConnection)
        self._thread.start(QThread.Priority.LowPriority)  # Windows / macOS; Linux: see yield_to_the_gui

    @property
    def busy(self) -> bool:
        return self.queue.executing is not None

    def warm_up(self) -> None:
        """Have the worker import the engine now (seconds), so the first Generate does not wait for it.

        A job submitted meanwhile starts when the imports are done, as its load would have made them."""
        self._warm.emit()

    def submit(self, request: GenerationRequest, output_folder: Path) -> Job:
        """Queue a request; it starts now if the worker is free, else after the jobs before it."""
        job = self.queue.add(request, output_folder)
        self._start_next()
        return job

    def cancel(self) -> None:
        """Stop the running job within one step and drop the queued ones."""
        self.queue.cancel_all()

    def shutdown(self, timeout_ms: int = 30_000) -> None:
        self.queue.cancel_all()
        self._thread.quit()
        self._thread.wait(timeout_ms)

    @Slot(list)
    def _on_result(self, images: list) -> None:
        self._outcome = (JobState.FINISHED, "")
        self.result.emit(images)

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self._outcome = (JobState.FAILED, message)
        self.error.emit(message)

    @Slot()
    def _on_cancelled(self) -> None:
        self._outcome = (JobState.CANCELLED, "")
        self.cancelled.emit()

    @Slot(object)
    def _on_finished(self, job: Job) -> None:
        # A job cancelled after its last step still finished: its images are kept, so it says so.
        self.queue.set_state(job, *self._outcome)
        self.jobFinished.emit(job)
        self._start_next()

    def _start_next(self) -> None:
        if self.busy:
            return
        job = self.queue.next_queued()
        if job is None:
            self.idle.emit()
            return
        self._outcome = (JobState.FINISHED, "")
        self.queue.set_state(job, JobState.EXECUTING)
        self._send.emit(job)
