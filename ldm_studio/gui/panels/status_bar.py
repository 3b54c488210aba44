"""The status bar: progress with step, it/s and ETA; queued jobs; the loaded model; memory in use."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QWidget

from ldm_studio.gui.jobs.engine_api import ModelStatus

MEMORY_REFRESH_MS = 2000


def process_memory_bytes() -> int | None:
    """Resident memory of this process, or None where it cannot be read cheaply."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:  # Linux: current, not peak
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import resource  # macOS and other Unixes: the peak is the best cheap figure
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


class ProgressTracker:
    """Steps per second and time left, from when each step arrived."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._first: tuple[int, float] | None = None
        self.step, self.total = 0, 0

    def update(self, step: int, total: int) -> None:
        now = self._clock()
        # The first report starts the clock: model loading and text encoding are not steps.
        if self._first is None or step < self._first[0] or total != self.total:
            self._first = (step, now)
        self.step, self.total, self._now = step, total, now

    @property
    def steps_per_second(self) -> float | None:
        if self._first is None or self.step <= self._first[0]:
            return None
        elapsed = self._now - self._first[1]
        return (self.step - self._first[0]) / elapsed if elapsed > 0 else None

    @property
    def seconds_left(self) -> float | None:
        rate = self.steps_per_second
        return (self.total - self.step) / rate if rate else None

    def text(self) -> str:
        parts = [f"Step {self.step}/{self.total}"]
        rate = self.steps_per_second
        if rate is not None:
            parts.append(f"{rate:.2f} it/s" if rate < 10 else f"{rate:.0f} it/s")
            left = round(self.seconds_left or 0)
            parts.append(f"ETA {left // 60}:{left % 60:02d}")
        return " · ".join(parts)


class StatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(parent)
        self._clock = clock
        self.tracker = ProgressTracker(clock)
        self._stage = ""  # of a two-pass run (hires fix)
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(320)
        self.progress_bar.setMinimumWidth(240)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.hide()
        self.queue_label = QLabel()
        self.model_label = QLabel("No model loaded yet")
        self.model_label.setToolTip("The loaded model: name · family · device · precision")
        self.memory_label = QLabel()
        self.memory_label.setToolTip("Memory this process uses")
        for widget in (self.progress_bar, self.queue_label, self.model_label, self.memory_label):
            self.addPermanentWidget(widget)
        self._memory_timer = QTimer(self, interval=MEMORY_REFRESH_MS)
        self._memory_timer.timeout.connect(self.refresh_memory)
        self._memory_timer.start()
        self.refresh_memory()

    def show_loading(self, name: str) -> None:
        self.progress_bar.setRange(0, 0)  # busy: loading gives no steps
        self.progress_bar.setFormat(f"Loading {name}…")
        self.progress_bar.show()
        self.model_label.setText(f"Loading {name}…")

    def show_model(self, status: ModelStatus) -> None:
        self.model_label.setText(f"{status.name} · {status.family} · {status.device} · {status.precision}")

    def job_started(self) -> None:
        self.tracker = ProgressTracker(self._clock)
        self._stage = ""
        self.progress_bar.setRange(0, 0)
        self.progress_bar.setFormat("Starting…")
        self.progress_bar.show()

    def show_progress(self, step: int, total: int) -> None:
        self.tracker.update(step, total)
        self.progress_bar.setRange(0, max(1, total))
        self.progress_bar.setValue(step)
        text = self.tracker.text()
        self.progress_bar.setFormat(f"{self._stage.capitalize()}: {text}" if self._stage else text)

    def show_stage(self, stage: str) -> None:
        """The pass of a two-pass run the next steps belong to ("hires fix"), named before the step count."""
        self._stage = stage

    def job_ended(self, message: str) -> None:
        self.progress_bar.hide()
        self.showMessage(message, 8000)

    def show_queue(self, queued: int) -> None:
        self.queue_label.setText(f"{queued} queued" if queued else "")

    def refresh_memory(self) -> None:
        used = process_memory_bytes()
        self.memory_label.setText(f"RAM {used / 2**30:.1f} GiB" if used else "")
