"""Jobs and their states: queued → executing → finished / cancelled / failed.

A job pairs a frozen request with its own cancel flag and output folder, so the worker thread reads
nothing else. States change only in the GUI thread; the queue emits `changed` and widgets follow.
"""

from __future__ import annotations

import enum
import itertools
import threading
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from ldm_studio.engine.requests import GenerationRequest


class JobState(enum.Enum):
    QUEUED = "queued"
    EXECUTING = "executing"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def is_done(self) -> bool:
        return self in (JobState.FINISHED, JobState.CANCELLED, JobState.FAILED)


_job_ids = itertools.count(1)


@dataclass(eq=False)
class Job:
    request: GenerationRequest
    output_folder: Path
    id: int = field(default_factory=lambda: next(_job_ids))
    cancel: threading.Event = field(default_factory=threading.Event)
    state: JobState = JobState.QUEUED
    message: str = ""  # why it failed, for the user


class JobQueue(QObject):
    changed = Signal()
    HISTORY = 20  # finished jobs kept for display; older ones are dropped

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs: list[Job] = []

    @property
    def jobs(self) -> list[Job]:
        return list(self._jobs)

    def add(self, request: GenerationRequest, output_folder: Path) -> Job:
        job = Job(request, output_folder)
        self._jobs.append(job)
        self._drop_old_history()
        self.changed.emit()
        return job

    def next_queued(self) -> Job | None:
        return next((job for job in self._jobs if job.state is JobState.QUEUED), None)

    @property
    def executing(self) -> Job | None:
        return next((job for job in self._jobs if job.state is JobState.EXECUTING), None)

    def count(self, state: JobState) -> int:
        return sum(job.state is state for job in self._jobs)

    def set_state(self, job: Job, state: JobState, message: str = "") -> None:
        if job.state.is_done:
            return  # a late signal must not revive a job the user already cancelled
        job.state = state
        job.message = message
        self.changed.emit()

    def cancel(self, job: Job) -> None:
        """Stop a job: a queued one at once, a running one when the worker next checks the flag."""
        job.cancel.set()
        if job.state is JobState.QUEUED:
            self.set_state(job, JobState.CANCELLED)

    def cancel_all(self) -> None:
        for job in self._jobs:
            if not job.state.is_done:
                self.cancel(job)

    def _drop_old_history(self) -> None:
        done = [job for job in self._jobs if job.state.is_done]
        for job in done[: max(0, len(done) - self.HISTORY)]:
            self._jobs.remove(job)
