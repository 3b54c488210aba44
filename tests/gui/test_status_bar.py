"""The status bar tells the user how far a run is, how fast it goes and what is loaded."""

from __future__ import annotations

from ldm_studio.gui.jobs.engine_api import ModelStatus
from ldm_studio.gui.panels.status_bar import ProgressTracker, StatusBar, process_memory_bytes


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_speed_and_time_left_count_from_the_first_step():
    clock = FakeClock()
    tracker = ProgressTracker(clock)
    tracker.update(1, 20)
    assert tracker.text() == "Step 1/20"  # no rate yet: loading time is not a step
    clock.now += 2.0
    tracker.update(5, 20)
    assert tracker.steps_per_second == 2.0
    assert tracker.text() == "Step 5/20 · 2.00 it/s · ETA 0:08"


def test_the_progress_bar_shows_step_rate_and_eta(qtbot):
    clock = FakeClock()
    bar = StatusBar(clock=clock)
    qtbot.addWidget(bar)
    bar.job_started()
    bar.show_progress(1, 30)
    clock.now += 0.5
    bar.show_progress(11, 30)
    assert bar.progress_bar.value() == 11 and bar.progress_bar.maximum() == 30
    assert bar.progress_bar.text() == "Step 11/30 · 20 it/s · ETA 0:01"
    bar.job_ended("Done")
    assert bar.progress_bar.isHidden() and bar.currentMessage() == "Done"


def test_loading_then_the_model_device_and_precision(qtbot):
    bar = StatusBar()
    qtbot.addWidget(bar)
    bar.show_loading("v1-5.safetensors")
    assert bar.progress_bar.maximum() == 0 and "Loading v1-5.safetensors" in bar.model_label.text()
    bar.show_model(ModelStatus("v1-5", "sd1", "cuda:0", "float16"))
    assert bar.model_label.text() == "v1-5 · sd1 · cuda:0 · float16"
    bar.show_queue(2)
    assert bar.queue_label.text() == "2 queued"


def test_memory_in_use_is_shown():
    used = process_memory_bytes()
    assert used is not None and used > 10 * 2**20  # a Python process with Qt loaded
