"""The models folder is watched: a checkpoint copied in shows up in the models panel without Rescan."""

from __future__ import annotations

import shutil

import pytest

from tests.gui.fake_engine import ScriptedEngine
from tests.gui.window_fixtures import make_window


@pytest.fixture
def window(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, ScriptedEngine())
    window.models_watcher.timer.setInterval(50)  # the debounce, short for the test
    return window


def panel_names(window) -> list[str]:
    tree = window.models_panel.tree
    return [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())]


def test_a_checkpoint_copied_into_the_folder_appears_without_rescan(qtbot, window, tmp_path):
    assert "mine" not in panel_names(window)
    source = tmp_path / "download.safetensors"
    source.write_bytes(b"x" * 4096)
    shutil.copy(source, window.models.folder / "mine.safetensors")
    qtbot.waitUntil(lambda: "mine" in panel_names(window), timeout=5000)
    assert window.models_watcher.rescans == 1
    assert window.model_selector.findText("mine") >= 0

    (window.models.folder / "mine.safetensors").unlink()  # and a removed one goes
    qtbot.waitUntil(lambda: "mine" not in panel_names(window), timeout=5000)


def test_a_file_still_growing_is_scanned_only_once_it_has_settled(qtbot, window):
    watcher = window.models_watcher
    watcher.timer.setInterval(60_000)  # driven by hand below
    path = window.models.folder / "big.safetensors"
    path.write_bytes(b"x" * 100)
    watcher._settle()  # first look after the burst: a new file, remember its size and look again
    assert watcher.rescans == 0 and watcher.timer.isActive()
    with path.open("ab") as stream:
        stream.write(b"x" * 100)  # still being copied
    watcher._settle()
    assert watcher.rescans == 0
    watcher._settle()  # the same size twice: settled
    assert watcher.rescans == 1
    watcher._settle()  # nothing new since the scan
    assert watcher.rescans == 1


def test_the_watch_follows_the_models_folder_when_it_moves(qtbot, window, tmp_path):
    other = tmp_path / "other_models"
    other.mkdir()
    window.settings.models_folder = other
    window.models.rescan()
    qtbot.waitUntil(lambda: window.models_watcher.folder == other, timeout=5000)
    (other / "moved.safetensors").write_bytes(b"x")
    qtbot.waitUntil(lambda: "moved" in panel_names(window), timeout=5000)


def test_closing_the_window_ends_the_watch_in_the_gui_thread(qtbot, window):
    watcher = window.models_watcher
    assert watcher.watcher is not None and watcher.watcher.directories()
    window.close()
    assert watcher.watcher is None and not watcher.timer.isActive()
    watcher._changed("")  # a late event does nothing
    watcher._settle()
    assert watcher.rescans == 0
