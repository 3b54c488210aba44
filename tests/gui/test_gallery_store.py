"""The gallery survives a restart: results listed again newest first, from a thumbnail cache, so a
second start opens no image file when nothing changed."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from ldm_studio.engine.metadata import format_infotext
from ldm_studio.engine.outputs import save_png_atomic
from ldm_studio.engine.requests import GenerationRequest
from ldm_studio.gui.panels import gallery_store
from ldm_studio.gui.panels.gallery_store import GalleryCache, StoredResult, load_gallery
from ldm_studio.gui.restore_offer import BUTTON
from tests.gui.fake_engine import ScriptedEngine
from tests.gui.test_main_window import wait_done
from tests.gui.window_fixtures import make_window, temporary_settings

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def reads(monkeypatch) -> list:
    """Every image file the gallery store opens."""
    opened: list = []
    real = gallery_store.read_result_file

    def counting(path):
        opened.append(path.name)
        return real(path)

    monkeypatch.setattr(gallery_store, "read_result_file", counting)
    return opened


def write_result(folder, seed: int, mtime: int, prompt: str = "a red circle", model: str = "") -> None:
    request = GenerationRequest(prompt=prompt, seed=seed, width=96, height=72, sampler="heun", model=model)
    infotext = format_infotext(request, seed=seed)
    colour = (seed * 40 % 256, 100, 200)
    path = save_png_atomic(Image.new("RGB", (96, 72), colour), infotext, request, folder, seed=seed)
    os.utime(path, ns=(mtime * 10**9, mtime * 10**9))


def listed_seeds(window) -> list[int | None]:
    return [r.seed for r in window.gallery.results]


_windows: list = []  # closed windows stay referenced: Python must not delete one under Qt mid-test


def restart(qtbot, tmp_path, settings, old=None):
    if old is not None:
        old.close()
        _windows.append(old)
    return make_window(qtbot, tmp_path, ScriptedEngine(), settings)


def test_results_come_back_newest_first_and_a_second_start_opens_no_image(qtbot, tmp_path, reads):
    settings = temporary_settings(tmp_path)
    outputs = settings.outputs_folder
    outputs.mkdir()
    (settings.models_folder / "mine.safetensors").write_bytes(b"sd")
    # Names say 1, 2, 3; the times say 2 is newest, then 3, then 1: the times decide.
    write_result(outputs, 1, 1_000_000, prompt="first")
    write_result(outputs, 2, 3_000_000, prompt="second", model="/elsewhere/mine.safetensors")
    write_result(outputs, 3, 2_000_000, prompt="third")

    window = restart(qtbot, tmp_path, settings)
    qtbot.waitUntil(lambda: window.gallery.list.count() == 3, timeout=5000)
    assert listed_seeds(window) == [2, 3, 1] and len(reads) == 3
    window.document.steps = 1
    window.generate()  # a result of this session is cached from memory as it is saved
    wait_done(qtbot, window)
    assert window.gallery.list.count() == 4

    window = restart(qtbot, tmp_path, settings, old=window)
    qtbot.waitUntil(lambda: window.gallery.list.count() == 4, timeout=5000)
    assert len(reads) == 3  # nothing changed: every entry came from the cache
    newest = window.gallery.results[0]
    assert isinstance(newest, StoredResult) and listed_seeds(window)[1:] == [2, 3, 1]
    assert "second" in window.gallery.list.item(1).toolTip()

    # A click reads that one file, shows it and offers its parameters (its model found by file name).
    qtbot.waitUntil(lambda: window.models.user_entries != [], timeout=5000)
    gallery = window.gallery.list
    qtbot.mouseClick(gallery.viewport(), LEFT, pos=gallery.visualItemRect(gallery.item(1)).center())
    assert window.canvas.image().shape == (72, 96, 3) and window.canvas.image()[0, 0, 0] == 80
    qtbot.mouseClick(window.offers.button(BUTTON), LEFT)
    assert window.document.prompt == "second" and window.document.seed == 2
    assert window.document.sampler == "heun" and (window.document.width, window.document.height) == (96, 72)
    assert window.document.model == str(settings.models_folder / "mine.safetensors")

    later = time.time_ns() + 10**12  # after the session's own result
    os.utime(outputs / next(p for p in os.listdir(outputs) if p.endswith("-3.png")), ns=(later, later))
    window = restart(qtbot, tmp_path, settings, old=window)
    qtbot.waitUntil(lambda: window.gallery.list.count() == 4, timeout=5000)
    assert len(reads) == 4 and listed_seeds(window)[0] == 3  # only the changed file was opened again


def test_unreadable_files_and_a_damaged_cache_leave_the_listing_working(tmp_path):
    outputs, cache_dir = tmp_path / "outputs", tmp_path / "cache"
    outputs.mkdir()
    write_result(outputs, 7, 1_000_000)
    (outputs / "notes.png").write_text("not a picture")
    (outputs / ".tmp-half.png").write_bytes(b"")  # the saver's hidden temporary: never listed
    cache_dir.mkdir()
    (cache_dir / "index.json").write_text("{ damaged")
    listed = load_gallery(outputs, GalleryCache(cache_dir))
    assert [r.seed for r in listed] == [7]
    assert listed[0].thumbnail.is_file()
    thumbnail = np.asarray(Image.open(listed[0].thumbnail))
    assert max(thumbnail.shape[:2]) == gallery_store.THUMBNAIL

    (outputs / listed[0].path.name).unlink()  # a file deleted: its cache entry and thumbnail go too
    assert load_gallery(outputs, GalleryCache(cache_dir)) == []
    assert not listed[0].thumbnail.exists()
