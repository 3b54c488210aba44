"""The worker thread and the job runner, driven by the scripted engine: what a user would see happen."""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import QTimer

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.metadata import read_png_request
from ldm_studio.engine.requests import GenerationRequest
from ldm_studio.gui.jobs.queue import JobQueue, JobState
from ldm_studio.gui.jobs.runner import JobRunner
from ldm_studio.gui.qt_images import qimage_to_array
from tests.gui.fake_engine import ScriptedEngine

REQUEST = GenerationRequest(prompt="a red circle", steps=4, width=32, height=32, seed=7)


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine()


@pytest.fixture
def runner(qtbot, engine):
    runner = JobRunner(JobQueue(), engine)
    yield runner
    runner.shutdown()


def wait_idle(qtbot, runner: JobRunner, timeout: int = 5000) -> None:
    qtbot.waitUntil(lambda: not runner.busy and runner.queue.next_queued() is None, timeout=timeout)


def test_a_run_reports_every_step_shows_previews_and_saves_each_image(qtbot, runner, tmp_path):
    steps, previews, results = [], [], []
    runner.progress.connect(lambda step, total: steps.append((step, total)))
    runner.preview.connect(lambda image, box: previews.append(qimage_to_array(image)))
    runner.result.connect(results.append)

    with qtbot.waitSignal(runner.result, timeout=5000):
        job = runner.submit(REQUEST.replace(batch_size=2), tmp_path)
    wait_idle(qtbot, runner)

    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert len(previews) == 4 and previews[-1].mean() > previews[0].mean()  # the image forms
    [images] = results
    assert [r.seed for r in images] == [7, 8]
    assert qimage_to_array(images[0].image).shape == (32, 32, 3)
    assert {r.path.parent for r in images} == {tmp_path}
    assert read_png_request(images[1].path).prompt == "a red circle"
    assert job.state is JobState.FINISHED


def test_the_model_is_loaded_once_and_reloaded_only_when_the_choice_changes(qtbot, runner, engine, tmp_path):
    loaded = []
    runner.modelLoaded.connect(loaded.append)
    for request in (REQUEST, REQUEST.replace(seed=9), REQUEST.replace(precision="fp16")):
        runner.submit(request, tmp_path)
    wait_idle(qtbot, runner)

    assert len(engine.runs) == 3
    assert engine.loads == [("demo-txt2img", "auto", "auto"), ("demo-txt2img", "auto", "fp16")]
    assert loaded[0].device == "cpu"


def test_a_bad_model_gives_a_readable_error_and_the_next_run_works(qtbot, runner, engine, tmp_path):
    engine.bad_models.add("/models/broken.safetensors")
    errors, results = [], []
    runner.error.connect(errors.append)
    runner.result.connect(results.append)

    bad = runner.submit(REQUEST.replace(model="/models/broken.safetensors"), tmp_path)
    good = runner.submit(REQUEST, tmp_path)
    wait_idle(qtbot, runner)

    assert errors == ["broken.safetensors: not a checkpoint (no UNet weights found)"]
    assert bad.state is JobState.FAILED and bad.message == errors[0]
    assert good.state is JobState.FINISHED and len(results) == 1


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (InputError("width 100 is not a multiple of 8"), "width 100 is not a multiple of 8"),
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), "Out of memory. Try a smaller"),
        (ZeroDivisionError("division by zero"), "Unexpected error (ZeroDivisionError)"),
    ],
)
def test_errors_during_a_run_become_messages(qtbot, runner, engine, tmp_path, raised, expected):
    engine.run_error = raised
    with qtbot.waitSignal(runner.error, timeout=5000) as signal:
        runner.submit(REQUEST, tmp_path)
    assert signal.args[0].startswith(expected)
    wait_idle(qtbot, runner)
    engine.run_error = None
    with qtbot.waitSignal(runner.result, timeout=5000):
        runner.submit(REQUEST, tmp_path)


def test_cancel_mid_run_stops_it_and_a_second_run_completes(qtbot, runner, engine, tmp_path):
    engine.pause_at_step = 2
    steps = []
    runner.progress.connect(lambda step, total: steps.append(step))
    first = runner.submit(REQUEST.replace(steps=10), tmp_path)
    assert engine.reached_pause.wait(5)

    with qtbot.waitSignal(runner.cancelled, timeout=5000):
        runner.cancel()
    wait_idle(qtbot, runner)
    assert first.state is JobState.CANCELLED
    assert steps == [1, 2]
    assert list(tmp_path.iterdir()) == []  # nothing saved for a cancelled run

    engine.pause_at_step = None
    with qtbot.waitSignal(runner.result, timeout=5000):
        second = runner.submit(REQUEST, tmp_path)
    wait_idle(qtbot, runner)
    assert second.state is JobState.FINISHED


def test_generate_during_a_run_queues_the_request_and_runs_it_next(qtbot, runner, engine, tmp_path):
    engine.pause_at_step = 1
    first = runner.submit(REQUEST.replace(seed=1), tmp_path)
    assert engine.reached_pause.wait(5)
    second = runner.submit(REQUEST.replace(seed=2), tmp_path)
    third = runner.submit(REQUEST.replace(seed=3), tmp_path)
    assert (first.state, second.state, third.state) == (
        JobState.EXECUTING,
        JobState.QUEUED,
        JobState.QUEUED,
    )
    assert runner.queue.count(JobState.QUEUED) == 2

    engine.pause_at_step = None
    engine.gate.set()
    wait_idle(qtbot, runner)
    assert [r.seed for r in engine.runs] == [1, 2, 3]
    assert all(job.state is JobState.FINISHED for job in (first, second, third))


def test_an_unwritable_output_folder_warns_and_keeps_the_image(qtbot, runner, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the output folder should be")
    warnings = []
    runner.warning.connect(warnings.append)
    with qtbot.waitSignal(runner.result, timeout=5000) as signal:
        runner.submit(REQUEST, blocked / "outputs")
    [kept] = signal.args[0]
    assert kept.path is None and not kept.image.isNull()
    assert len(warnings) == 1
    assert "not-a-folder is a file, not a folder" in warnings[0] and "Save as" in warnings[0]


def test_the_event_loop_stays_responsive_during_a_run(qtbot, runner, engine, tmp_path):
    # 30 steps of ~20 ms CPU work in the worker thread, with a preview every step.
    engine.cpu_seconds = 0.02
    delays: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        delays.append((now - last[0]) * 1000 - 10)
        last[0] = now

    timer = QTimer()
    timer.setTimerType(timer.timerType().PreciseTimer)
    timer.timeout.connect(tick)
    timer.start(10)
    with qtbot.waitSignal(runner.result, timeout=20_000):
        runner.submit(REQUEST.replace(steps=30, width=256, height=256), tmp_path)
    timer.stop()

    assert len(delays) > 20
    p95 = statistics.quantiles(delays, n=20)[-1]
    assert p95 <= 50, f"timer delay p95 {p95:.1f} ms"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_the_worker_thread_gives_way_to_the_gui_thread(qtbot, runner, engine, tmp_path):
    with qtbot.waitSignal(runner.result, timeout=5000):
        runner.submit(REQUEST.replace(steps=1), tmp_path)
    [worker_thread] = engine.run_thread_ids
    assert worker_thread != threading.get_native_id()
    gui_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert os.getpriority(os.PRIO_PROCESS, worker_thread) > gui_nice


def test_warm_up_runs_in_the_worker_thread_and_a_failing_one_costs_the_next_job_nothing(
    qtbot, runner, engine, tmp_path
):
    engine.warm_up_error = ImportError("no module named transformers")
    runner.warm_up()
    with qtbot.waitSignal(runner.result, timeout=5000):
        runner.submit(REQUEST.replace(steps=1), tmp_path)
    assert engine.warm_up_thread_ids == engine.run_thread_ids  # the worker's, ahead of the job
    assert engine.warm_up_thread_ids[0] != threading.get_native_id()


def test_previews_arrive_as_images_of_the_engine_arrays(qtbot, runner, tmp_path):
    with qtbot.waitSignal(runner.preview, timeout=5000) as signal:
        runner.submit(REQUEST.replace(steps=2), tmp_path)
    image, box = signal.args
    assert (image.width(), image.height()) == (16, 16)
    assert box is None
    assert np.all(qimage_to_array(image) == 127)
    wait_idle(qtbot, runner)


def test_results_never_replace_an_existing_file(qtbot, runner, tmp_path):
    existing = tmp_path / "00001-7.png"
    existing.write_bytes(b"the user's own file")
    with qtbot.waitSignal(runner.result, timeout=5000) as signal:
        runner.submit(REQUEST, tmp_path)
    assert existing.read_bytes() == b"the user's own file"
    [kept] = signal.args[0]
    assert kept.path.parent == tmp_path and kept.path != existing
    assert read_png_request(kept.path).seed == 7
