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


def lora_names(window) -> list[str]:
    return [item.text(0) for item in window.adapters_panel.items("lora")]


def test_a_lora_copied_into_the_loras_folder_appears_in_the_dock_without_rescan(qtbot, window, tmp_path):
    from tests.adapter_files import write_lora
    from tests.gui.test_loras_panel import SD1_K

    window.models_watcher.adapter_timer.setInterval(50)
    loras = window.models.folder / "loras"
    loras.mkdir()  # made after start: the models folder's change makes the watch take it on
    qtbot.waitUntil(lambda: str(loras) in window.models_watcher.watcher.directories(), timeout=5000)
    source = tmp_path / "ink.safetensors"
    write_lora(source, {SD1_K: (8, 768)})
    shutil.copy(source, loras / "ink.safetensors")
    qtbot.waitUntil(lambda: lora_names(window) == ["ink"], timeout=5000)
    assert window.models_watcher.adapter_rescans >= 1
    assert window.models_watcher.rescans == 0  # a LoRA is no checkpoint of the models list

    embeddings = window.models.folder / "embeddings"
    embeddings.mkdir()
    qtbot.waitUntil(lambda: str(embeddings) in window.models_watcher.watcher.directories(), timeout=5000)
    (loras / "ink.safetensors").unlink()  # and a removed one goes
    qtbot.waitUntil(lambda: lora_names(window) == [], timeout=5000)


def test_a_burst_of_adapter_changes_makes_one_rescan_once_settled(qtbot, window):
    watcher = window.models_watcher
    watcher.adapter_timer.setInterval(60_000)  # driven by hand below
    (window.models.folder / "controlnet").mkdir()
    watcher.follow_folder()
    assert str(window.models.folder / "controlnet") in watcher.watcher.directories()
    for n in range(3):
        watcher._changed(str(window.models.folder / "controlnet"))  # a burst restarts the one timer
        (window.models.folder / "controlnet" / f"cn{n}.safetensors").write_bytes(b"x" * 10)
    assert watcher.adapter_timer.isActive() and watcher.adapter_rescans == 0
    announced: list[bool] = []
    watcher.adaptersChanged.connect(lambda: announced.append(True))
    watcher._settle_adapters()  # first look: new files, look again after another quiet spell
    assert watcher.adapter_rescans == 0
    watcher._settle_adapters()  # the same twice: settled, one rescan
    watcher._settle_adapters()  # nothing new since
    assert watcher.adapter_rescans == 1 and announced == [True] and not watcher.timer.isActive()
