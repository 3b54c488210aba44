"""Live mode as a user drives it: typing starts a job after the debounce, the next edit cancels it."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolButton

from ldm_studio.gui.jobs.queue import JobState
from ldm_studio.gui.live_mode import DEBOUNCE_MS
from tests.gui.fake_engine import ScriptedEngine
from tests.gui.window_fixtures import make_window


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine()


def idle(window) -> bool:
    return not window.runner.busy and window.runner.queue.next_queued() is None


def test_typing_starts_a_job_after_the_debounce_and_the_next_edit_cancels_it(qtbot, tmp_path, engine):
    window = make_window(qtbot, tmp_path, engine)
    window.document.update({"steps": 6, "batch_size": 3, "seed": 77, "seed_locked": False})
    qtbot.mouseClick(window.prompt_panel.generate_button, Qt.MouseButton.LeftButton)  # a normal run first
    qtbot.waitUntil(lambda: idle(window), timeout=5000)
    assert window.history.panel.list.count() == 1
    window.live.action.trigger()
    assert window.live.enabled
    qtbot.waitUntil(lambda: len(engine.runs) == 2 and idle(window), timeout=5000)  # switching on shows one

    engine.pause_at_step = 2  # hold the next job mid-way, as a slow model would be
    qtbot.keyClicks(window.prompt_panel.prompt_edit, "a cat")
    typed = time.perf_counter()  # the last key
    assert len(engine.runs) == 2  # not per key: it waits for a pause in the typing
    qtbot.waitUntil(lambda: len(engine.runs) == 3, timeout=5000)
    assert time.perf_counter() - typed >= 0.9 * DEBOUNCE_MS / 1000
    first = window.live.jobs[-1]
    assert engine.runs[-1].prompt == "a cat"
    assert engine.runs[-1].batch_size == 1 and engine.runs[-1].preview_interval == 1  # fast settings
    assert engine.runs[-1].seed == window.document.seed  # the seed stays: the image follows the edit
    assert engine.runs[-1].steps == 6  # the demo model is not a few-step model: the user's steps
    assert engine.reached_pause.wait(5)

    qtbot.keyClicks(window.prompt_panel.prompt_edit, " asleep")
    qtbot.waitUntil(lambda: first.state is JobState.CANCELLED, timeout=5000)
    qtbot.waitUntil(lambda: len(engine.runs) == 4, timeout=5000)
    assert engine.runs[-1].prompt == "a cat asleep"
    engine.gate.set()
    qtbot.waitUntil(lambda: idle(window), timeout=5000)
    assert window.live.jobs[-1].state is JobState.FINISHED
    assert window.gallery.results[0].path.parent == window.settings.data_folder / "live"
    assert window.history.panel.list.count() == 1  # live images are scratch, not history

    window.live.action.trigger()  # off: edits no longer run anything
    qtbot.keyClicks(window.prompt_panel.prompt_edit, "!")
    qtbot.wait(DEBOUNCE_MS + 150)
    assert len(engine.runs) == 4


def test_a_finished_mask_stroke_reruns_inpaint_from_the_users_image(qtbot, tmp_path, engine):
    window = make_window(qtbot, tmp_path, engine)
    window.document.update({"mode": "inpaint", "steps": 2, "prompt": "a hat"})
    original = np.full((64, 64, 3), 90, np.uint8)
    window.canvas.set_image(original)
    window.live.set_enabled(True)
    qtbot.wait(DEBOUNCE_MS + 100)
    assert "needs a mask" in window.notice.text and engine.runs == []  # said, nothing run

    canvas = window.canvas
    for stroke in range(2):
        canvas.begin_stroke(10 + 20 * stroke, 10)
        canvas.continue_stroke(30 + 20 * stroke, 30)
        canvas.end_stroke()
        qtbot.waitUntil(lambda n=stroke: len(engine.runs) == n + 1 and idle(window), timeout=5000)
        run = engine.runs[-1]
        assert run.mode == "inpaint" and run.mask is not None and run.mask.any()
        np.testing.assert_array_equal(run.init_image, original)  # never the live result shown meanwhile
        assert not np.array_equal(canvas.image(), original)  # the result is on the canvas
        qtbot.wait(2 * DEBOUNCE_MS)  # showing the result re-set the mask: that is not an edit
        assert len(engine.runs) == stroke + 1


def test_live_results_replace_each_other_in_the_gallery_and_one_saved_as_stays(qtbot, tmp_path, engine):
    window = make_window(qtbot, tmp_path, engine)
    window.document.update({"steps": 2, "seed": 5, "seed_locked": True})
    qtbot.mouseClick(window.prompt_panel.generate_button, Qt.MouseButton.LeftButton)  # a normal run
    qtbot.waitUntil(lambda: idle(window) and window.gallery.list.count() == 1, timeout=5000)
    normal = window.gallery.results[0]
    cached = window.gallery_store.cache.count()
    window.live.action.trigger()
    qtbot.waitUntil(lambda: len(engine.runs) == 2 and idle(window), timeout=5000)
    for n, word in enumerate(["a cat", " asleep", " on a mat"]):
        qtbot.keyClicks(window.prompt_panel.prompt_edit, word)
        qtbot.waitUntil(lambda n=n: len(engine.runs) == n + 3 and idle(window), timeout=5000)
        results = window.gallery.results
        assert len(results) == 2 and results[1] is normal  # the newest live image, in place of the last
        assert results[0].request.prompt == window.document.prompt
    assert window.gallery_store.cache.count() == cached  # scratch: no thumbnails kept for them

    gallery = window.gallery
    live_result = gallery.results[0]
    gallery.list.setCurrentRow(0)
    target = tmp_path / "kept.png"
    gallery.ask_save_path = lambda parent, suggested: str(target)
    button = next(b for b in gallery.findChildren(QToolButton) if b.defaultAction() is gallery.save_action)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert target.is_file()
    qtbot.keyClicks(window.prompt_panel.prompt_edit, "!")
    qtbot.waitUntil(lambda: len(engine.runs) == 6 and idle(window), timeout=5000)
    results = gallery.results
    assert len(results) == 3 and results[1] is live_result and results[2] is normal  # the saved one stays
    qtbot.keyClicks(window.prompt_panel.prompt_edit, "?")
    qtbot.waitUntil(lambda: len(engine.runs) == 7 and idle(window), timeout=5000)
    assert len(gallery.results) == 3 and gallery.results[0].request.prompt.endswith("!?")
