"""The main window as a user drives it, with the scripted engine (tests/e2e runs the real one)."""

from __future__ import annotations

import statistics
import time

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt, QTimer

from ldm_studio.engine.errors import CheckpointError
from ldm_studio.engine.metadata import read_png_request
from ldm_studio.gui.jobs.queue import JobState
from tests.gui.fake_engine import ScriptedEngine
from tests.gui.window_fixtures import drop_files, make_window, png_with_a1111_parameters, temporary_settings


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine()


@pytest.fixture
def window(qtbot, tmp_path, engine):
    return make_window(qtbot, tmp_path, engine)


def wait_done(qtbot, window, timeout: int = 5000) -> None:
    qtbot.waitUntil(
        lambda: not window.runner.busy and window.runner.queue.next_queued() is None, timeout=timeout
    )


def press_generate(qtbot, window) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    qtbot.keyClick(window.prompt_panel.prompt_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)


def test_first_run_uses_the_demo_model_and_says_how_to_add_checkpoints(window, tmp_path):
    assert window.document.model == "" and window.model_selector.currentText() == "Demo model (bundled)"
    assert "No checkpoints of your own yet" in window.notice.text
    assert str(tmp_path / "models") in window.notice.text
    assert (window.document.width, window.document.height) == (128, 128)  # the demo's trained size
    assert window.document.cfg_scale == 3.0  # and the guidance scale it draws best at


def test_choosing_another_model_moves_size_and_guidance_the_user_left_alone(qtbot, tmp_path, engine):
    settings = temporary_settings(tmp_path)
    mine = settings.models_folder / "mine.safetensors"
    mine.write_bytes(b"sd")
    window = make_window(qtbot, tmp_path, engine, settings)
    qtbot.waitUntil(lambda: window.models.entry_for(str(mine)) is not None, timeout=5000)
    window.document.model = str(mine)
    assert (window.document.width, window.document.height, window.document.cfg_scale) == (512, 512, 7.0)

    window.document.cfg_scale = 5.5  # the user's own choice stays through a model change
    window.document.model = ""
    assert (window.document.width, window.document.height, window.document.cfg_scale) == (128, 128, 5.5)


def test_upscale_noise_level_follows_the_model_unless_the_user_set_it(qtbot, tmp_path, engine):
    settings = temporary_settings(tmp_path)
    mine = settings.models_folder / "mine.safetensors"
    mine.write_bytes(b"sd")
    window = make_window(qtbot, tmp_path, engine, settings, demo_upscaler=True)
    assert window.document.noise_level == 0  # the bundled demo upscaler's own, on a first run
    qtbot.waitUntil(lambda: window.models.entry_for(str(mine)) is not None, timeout=5000)
    window.document.model = str(mine)
    assert window.document.noise_level == 20  # SD's x4 upscaler's

    window.document.noise_level = 35  # the user's own choice stays through a model change
    window.document.model = ""
    assert window.document.noise_level == 35


def test_type_a_prompt_press_ctrl_enter_and_get_a_saved_image(qtbot, window, engine, tmp_path):
    window.document.steps = 6
    qtbot.keyClicks(window.prompt_panel.prompt_edit, "a red circle")
    press_generate(qtbot, window)
    wait_done(qtbot, window)

    assert engine.runs[0].prompt == "a red circle" and engine.runs[0].steps == 6
    assert window.previews_shown >= 6
    assert len(window.gallery.results) == 1
    saved = list((tmp_path / "outputs").glob("*.png"))
    assert len(saved) == 1 and read_png_request(saved[0]).prompt == "a red circle"
    seed = window.gallery.results[0].seed
    expected = np.asarray(Image.open(saved[0]).convert("RGB"))
    assert np.array_equal(window.canvas.image(), expected)  # the result is on the canvas
    assert seed == window.document.seed  # the seed used is the one shown
    assert window.status.currentMessage() == f"Done: saved {saved[0].name} in {saved[0].parent}"


def test_each_generate_draws_a_new_seed_unless_locked(qtbot, window, engine):
    window.document.steps = 1
    window.generate()
    wait_done(qtbot, window)
    window.generate()
    wait_done(qtbot, window)
    window.document.seed_locked = True
    window.generate()
    wait_done(qtbot, window)
    seeds = [request.seed for request in engine.runs]
    assert seeds[0] != seeds[1] and seeds[2] == seeds[1]


def test_esc_cancels_mid_run_and_the_next_run_completes(qtbot, window, engine):
    engine.pause_at_step = 3
    window.document.steps = 10
    window.generate()
    assert engine.reached_pause.wait(5)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Escape)
    wait_done(qtbot, window)
    assert window.runner.queue.jobs[-1].state is JobState.CANCELLED
    assert window.gallery.results == [] and window.status.currentMessage() == "Cancelled"
    assert window.prompt_panel.generate_button.text() == "Generate"

    engine.pause_at_step = None
    window.generate()
    wait_done(qtbot, window)
    assert window.runner.queue.jobs[-1].state is JobState.FINISHED and len(window.gallery.results) == 1


def test_generate_during_a_run_is_queued_and_shown_as_queued(qtbot, window, engine):
    engine.pause_at_step = 1
    window.document.steps = 3
    window.generate()
    assert engine.reached_pause.wait(5)
    second = window.generate()
    assert second.state is JobState.QUEUED
    assert window.status.queue_label.text() == "1 queued"
    assert window.prompt_panel.generate_button.text() == "Queue"
    engine.gate.set()
    wait_done(qtbot, window)
    assert second.state is JobState.FINISHED and len(window.gallery.results) == 2
    assert window.status.queue_label.text() == ""


def test_a_bad_model_shows_a_message_and_the_app_keeps_working(qtbot, window, engine, tmp_path):
    broken = str(tmp_path / "models" / "v1-5.safetensors")
    engine.bad_models.add(broken)
    window.document.model = broken
    window.generate()
    wait_done(qtbot, window)
    assert window.notice.kind == "error" and "not a checkpoint" in window.notice.text
    window.document.model = ""
    window.generate()
    wait_done(qtbot, window)
    assert len(window.gallery.results) == 1 and window.notice.kind != "error"


def test_inpaint_without_an_image_says_what_to_do(qtbot, window, engine):
    window.document.mode = "inpaint"
    assert window.generate() is None
    assert "needs an input image" in window.notice.text and engine.runs == []


def test_a_painted_mask_is_what_the_engine_gets(qtbot, window, engine):
    window.canvas.set_image(np.full((128, 128, 3), 90, np.uint8))
    window.canvas.set_brush_size(10)
    window.canvas.zoom_to_100()
    x0, y0 = _widget_point(window, 30, 64)
    x1, y1 = _widget_point(window, 90, 64)
    qtbot.mousePress(window.canvas, Qt.MouseButton.LeftButton, pos=QPoint(x0, y0))
    for step in range(1, 11):
        qtbot.mouseMove(window.canvas, QPoint(x0 + (x1 - x0) * step // 10, y0))
    qtbot.mouseRelease(window.canvas, Qt.MouseButton.LeftButton, pos=QPoint(x1, y1))
    assert window.canvas.mask().any()
    window.document.mode = "inpaint"
    window.document.steps = 2
    window.generate()
    wait_done(qtbot, window)

    mask = engine.runs[0].mask
    assert mask is not None and mask.shape == (128, 128)
    assert mask[64, 60] == 255 and mask[10, 10] == 0  # on the stroke, far from it
    assert window.canvas.mask()[64, 60] == 255  # kept for the next try on the result


def _widget_point(window, x: float, y: float) -> tuple[int, int]:
    """Widget pixel of an image pixel, through the canvas's own view transform."""
    widget_x, widget_y = window.canvas.view().to_widget(x, y)
    return round(widget_x), round(widget_y)


def test_dropping_a_png_with_a1111_parameters_restores_the_prompt_panel(qtbot, window, tmp_path):
    png = png_with_a1111_parameters(
        tmp_path / "from-a1111.png",
        "a (green:1.2) triangle\nNegative prompt: blurry\n"
        "Steps: 31, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 1234, Size: 64x48",
    )
    assert drop_files(window.canvas, [png])
    panel = window.prompt_panel
    assert panel.prompt_edit.toPlainText() == "a (green:1.2) triangle"
    assert panel.negative_edit.toPlainText() == "blurry"
    assert (panel.steps_spin.value(), panel.cfg_spin.value(), panel.sampler_combo.currentText()) == (
        31,
        6.5,
        "DPM++ 2M",
    )
    assert panel.seed_spin.value() == 1234 and panel.seed_lock_button.isChecked()
    assert window.canvas.image().shape == (48, 64, 3)


def test_dropping_a_non_image_says_so_and_keeps_the_canvas(qtbot, window, tmp_path):
    window.canvas.set_image(np.zeros((32, 32, 3), np.uint8))
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    fake_png = tmp_path / "broken.png"
    fake_png.write_text("not a png either")
    assert drop_files(window.canvas, [notes])
    assert "notes.txt: not an image or a checkpoint" in window.notice.text
    assert drop_files(window.canvas, [fake_png])
    assert "broken.png" in window.canvas.message()
    assert window.canvas.image().shape == (32, 32, 3)


def test_dropping_a_checkpoint_adds_it_to_the_models_folder(qtbot, window, tmp_path):
    download = tmp_path / "dreamy.safetensors"
    download.write_bytes(b"weights")
    assert drop_files(window, [download])
    qtbot.waitUntil(lambda: window.model_selector.findText("dreamy") >= 0, timeout=5000)
    assert (tmp_path / "models" / "dreamy.safetensors").read_bytes() == b"weights"


def test_a_model_that_cannot_do_the_mode_is_refused_before_running(qtbot, window, engine, tmp_path):
    window.canvas.set_image(np.zeros((64, 64, 3), np.uint8))
    window.document.mode = "upscale"  # the bundled txt2img demo in this test cannot upscale
    assert window.generate() is None
    assert "cannot do upscale" in window.notice.text and engine.runs == []


def test_ctrl_z_and_ctrl_y_undo_and_redo_mask_strokes(qtbot, window):
    window.canvas.set_image(np.zeros((64, 64, 3), np.uint8))
    window.canvas.fill_mask()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    window.gallery.list.setFocus()
    qtbot.keyClick(window.gallery.list, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not window.canvas.mask().any()
    qtbot.keyClick(window.gallery.list, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert window.canvas.mask().all()


def test_parameters_folders_and_geometry_survive_a_restart(qtbot, tmp_path, engine):
    settings = temporary_settings(tmp_path)
    first = make_window(qtbot, tmp_path, engine, settings)
    first.document.update({"prompt": "a blue square", "steps": 17, "cfg_scale": 4.5})
    first.resize(760, 720)  # within the offscreen test screen (800×800), which clamps restored sizes
    first.close()

    second = make_window(qtbot, tmp_path, engine, temporary_settings(tmp_path))
    assert second.prompt_panel.prompt_edit.toPlainText() == "a blue square"
    assert (second.document.steps, second.document.cfg_scale) == (17, 4.5)
    assert (second.size().width(), second.size().height()) == (760, 720)
    assert "No checkpoints of your own yet" in second.notice.text  # still no models of the user's


def test_the_window_stays_responsive_while_previews_stream_in(qtbot, window, engine):
    # ~20 ms of numpy work per step in the worker thread: like torch, it frees the GIL while computing.
    # (test_worker.py also checks the event loop against pure-Python work that holds the GIL.)
    engine.array_seconds = 0.02
    window.document.update({"steps": 30, "width": 512, "height": 512})
    delays: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        delays.append((now - last[0]) * 1000 - 10)
        last[0] = now

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.timeout.connect(tick)
    timer.start(10)
    window.generate()
    wait_done(qtbot, window, timeout=30_000)
    timer.stop()
    assert window.previews_shown == 30 and len(delays) > 20
    p95 = statistics.quantiles(delays, n=20)[-1]
    assert p95 <= 50, f"timer delay p95 {p95:.1f} ms"


def test_a_result_that_cannot_be_saved_stays_in_the_gallery_with_a_message(qtbot, window, engine, tmp_path):
    window.settings.outputs_folder = tmp_path / "blocked" / "outputs"  # can be made when the run starts
    window.document.steps = 2
    engine.pause_at_step = 1
    window.generate()
    assert engine.reached_pause.wait(5)
    (tmp_path / "blocked").write_text("a file, not a folder")  # and is blocked while it runs
    engine.gate.set()
    wait_done(qtbot, window)
    assert len(window.gallery.results) == 1 and window.gallery.results[0].path is None
    assert "is a file, not a folder" in window.notice.text and "Save as" in window.notice.text


def test_engine_errors_at_run_time_do_not_stop_the_queue(qtbot, window, engine):
    engine.run_error = CheckpointError("v1-5.safetensors: truncated file (expected 2.1 GB, found 0.3 GB)")
    window.generate()
    wait_done(qtbot, window)
    assert window.notice.text.startswith("v1-5.safetensors: truncated file")
    engine.run_error = None
    window.generate()
    wait_done(qtbot, window)
    assert len(window.gallery.results) == 1


def test_the_feathered_mask_view_uses_the_mask_blur_of_the_prompt_panel(qtbot, window):
    window.document.mode = "inpaint"
    window.prompt_panel.mask_blur_spin.setValue(12)
    assert window.canvas.feather_preview()[0] == 12


def test_ctrl_o_opens_an_image_and_ctrl_s_saves_the_result_as(qtbot, window, tmp_path, monkeypatch):
    picture = tmp_path / "photo.png"
    Image.new("RGB", (40, 24), (1, 2, 3)).save(picture)
    monkeypatch.setattr(
        "ldm_studio.gui.main_window.QFileDialog.getOpenFileNames", lambda *args: ([str(picture)], "")
    )
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    qtbot.keyClick(window.canvas, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    assert window.canvas.image().shape == (24, 40, 3)

    window.document.steps = 1
    window.generate()
    wait_done(qtbot, window)
    target = tmp_path / "keep.png"
    window.gallery.ask_save_path = lambda parent, suggested: str(target)
    qtbot.keyClick(window.canvas, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert read_png_request(target).seed == window.gallery.results[0].seed
