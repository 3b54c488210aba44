"""Live mode on the real engine with the bundled demo model: typing makes a preview and an image; an edit
during a run cancels it and the new prompt's image follows."""

from __future__ import annotations

import time

import pytest

from ldm_studio.gui.jobs.queue import JobState
from ldm_studio.gui.main_window import MainWindow
from ldm_studio.gui.panels.model_list import ModelList
from tests.gui.window_fixtures import temporary_settings

pytestmark = pytest.mark.slow

RUN_MS = 120_000


def test_live_edits_on_the_demo_model(qtbot, tmp_path):
    settings = temporary_settings(tmp_path)
    window = MainWindow(settings, models=ModelList(settings))
    qtbot.addWidget(window, before_close_func=lambda w: w.runner.shutdown())
    window.show()
    qtbot.waitUntil(lambda: not window.models.scanning and bool(window.models.entries), timeout=RUN_MS)
    window.document.update({"model": "", "device": "cpu", "width": 64, "height": 64, "steps": 30})
    runner = window.runner
    window.live.set_enabled(True)
    qtbot.waitUntil(lambda: bool(window.live.jobs) and window.previews_shown > 0, timeout=RUN_MS)
    first = window.live.jobs[-1]

    events: list[tuple[str, object, float]] = []
    runner.started.connect(lambda job: events.append(("started", job, time.perf_counter())))
    runner.preview.connect(lambda *_: events.append(("preview", None, time.perf_counter())))
    qtbot.keyClicks(window.prompt_panel.prompt_edit, "a red circle")
    typed = time.perf_counter()
    qtbot.waitUntil(lambda: first.state is JobState.CANCELLED, timeout=RUN_MS)  # 30 steps: still running

    def first_preview_of_the_new_job() -> float | None:
        starts = [i for i, (kind, job, _) in enumerate(events) if kind == "started" and job is not first]
        previews = [t for kind, _, t in events[starts[0] :] if kind == "preview"] if starts else []
        return previews[0] if previews else None

    qtbot.waitUntil(lambda: first_preview_of_the_new_job() is not None, timeout=RUN_MS)
    print(f"last key → first preview in the window: {first_preview_of_the_new_job() - typed:.2f} s")
    qtbot.waitUntil(lambda: not runner.busy and runner.queue.next_queued() is None, timeout=RUN_MS)
    last = window.live.jobs[-1]
    assert last.state is JobState.FINISHED and last.request.prompt == "a red circle"
    assert window.gallery.results[0].request.prompt == "a red circle"
    assert window.history.database.count() == 0  # scratch, not history
