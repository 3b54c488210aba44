"""The gallery follows the output folder: a new folder in Preferences lists that folder's results (through
the thumbnail cache, loaded in the background), and hundreds of earlier results fill in without freezing
the window."""

from __future__ import annotations

import itertools
import os
import time

from PIL import Image, PngImagePlugin
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from ldm_studio.gui.panels.gallery import Gallery
from ldm_studio.gui.panels.gallery_store import GalleryCache, cache_folder, load_gallery
from tests.gui.fake_engine import ScriptedEngine
from tests.gui.test_gallery_store import listed_seeds, reads, write_result  # noqa: F401 (a fixture)
from tests.gui.window_fixtures import make_window, temporary_settings

LEFT = Qt.MouseButton.LeftButton


def choose_output_folder(qtbot, window, folder) -> None:
    """File ▸ Preferences…, type the folder, press OK: as the user does (the dialog is modal)."""

    def fill() -> None:
        dialog = QApplication.activeModalWidget()
        dialog.outputs_edit.clear()
        qtbot.keyClicks(dialog.outputs_edit, str(folder))
        ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
        qtbot.mouseClick(ok, LEFT)

    QTimer.singleShot(0, fill)
    window.preferences_action.trigger()


def test_a_new_output_folder_lists_its_results_through_the_cache(qtbot, tmp_path, reads):  # noqa: F811
    settings = temporary_settings(tmp_path)
    first, second = settings.outputs_folder, tmp_path / "elsewhere"
    first.mkdir()
    second.mkdir()
    write_result(first, 1, 1_000_000)
    write_result(first, 2, 2_000_000)
    for seed, mtime in ((7, 3_000_000), (8, 5_000_000), (9, 4_000_000)):
        write_result(second, seed, mtime)
    window = make_window(qtbot, tmp_path, ScriptedEngine(), settings)
    qtbot.waitUntil(lambda: window.gallery.list.count() == 2, timeout=5000)
    window.document.steps = 1
    window.generate()  # a result of this session: it stays when the folder changes
    qtbot.waitUntil(lambda: window.gallery.list.count() == 3, timeout=5000)
    session = window.gallery.results[0]

    choose_output_folder(qtbot, window, second)
    assert settings.outputs_folder == second and window.gallery.output_folder == second
    qtbot.waitUntil(lambda: window.gallery.list.count() == 4 and not window.gallery.loading, timeout=5000)
    assert window.gallery.results[0] is session and listed_seeds(window)[1:] == [8, 9, 7]
    assert len(reads) == 5  # each earlier file once; this session's result was cached from memory

    count = len(reads)
    choose_output_folder(qtbot, window, first)  # back: the first folder's thumbnails were kept
    qtbot.waitUntil(lambda: listed_seeds(window)[1:] == [2, 1], timeout=5000)
    assert len(reads) == count  # no file opened again: all from the cache


def write_small_results(folder, count: int) -> None:
    """`count` small result files, seed n made at time n + 1 (so newest first is count-1 … 0)."""
    folder.mkdir()
    for n in range(count):
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", f"a shape {n}\nSteps: 1, Seed: {n}, Size: 96x72")
        path = folder / f"{n:05d}-{n}.png"
        Image.new("RGB", (96, 72), (n % 256, 0, 0)).save(path, pnginfo=info)
        os.utime(path, ns=((n + 1) * 10**9, (n + 1) * 10**9))


def test_a_start_with_300_cached_results_keeps_the_event_loop_responsive(qtbot, tmp_path, monkeypatch):
    settings = temporary_settings(tmp_path)
    write_small_results(settings.outputs_folder, 300)
    assert len(load_gallery(settings.outputs_folder, GalleryCache(cache_folder(settings)))) == 300  # cached

    ticks: list[float] = []  # a 5 ms timer's ticks while the gallery fills: how late the event loop runs
    turns: list[int] = []  # rows listed after each of the gallery's batches
    window = None

    def tick() -> None:
        if window is not None and window.gallery.loading:
            ticks.append(time.perf_counter())

    timer = QTimer(interval=5)
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.timeout.connect(tick)
    timer.start()
    batch = Gallery._add_stored_batch

    def counted(gallery) -> None:
        batch(gallery)
        turns.append(gallery.list.count())

    monkeypatch.setattr(Gallery, "_add_stored_batch", counted)
    window = make_window(qtbot, tmp_path, ScriptedEngine(), settings)
    qtbot.waitUntil(lambda: window.gallery.list.count() == 300, timeout=15000)
    timer.stop()
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len({t for t in turns if 0 < t < 300}) >= 3  # filled over several event-loop turns
    assert max(gaps, default=0.0) < 0.25  # generous (a loaded test machine); one batch is ~10 ms
    assert listed_seeds(window) == list(range(299, -1, -1))  # all of them, newest first
    assert not window.gallery.loading
