"""The History dock as a user drives it: generate, restart the app, search a word, restore with one click."""

from __future__ import annotations

import sqlite3

import pytest
from PySide6.QtCore import Qt

from ldm_studio.history.database import FILE_NAME
from tests.gui.fake_engine import ScriptedEngine
from tests.gui.window_fixtures import make_window, temporary_settings


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine()


def generate_and_wait(qtbot, window) -> None:
    database = window.history.database
    before = database.count() + database.pending if database else 0
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    qtbot.keyClick(window.prompt_panel.prompt_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(
        lambda: not window.runner.busy and window.runner.queue.next_queued() is None, timeout=5000
    )
    if window.history.database is not None and window.history.database.pending == 0:
        assert window.history.database.count() == before + 1


def test_restart_search_a_word_and_restore_with_one_click(qtbot, tmp_path, engine):
    settings = temporary_settings(tmp_path)
    mine = settings.models_folder / "mine.safetensors"
    mine.write_bytes(b"sd")
    first = make_window(qtbot, tmp_path, engine, settings)
    qtbot.waitUntil(lambda: first.models.entry_for(str(mine)) is not None, timeout=5000)
    panel = first.prompt_panel
    first.document.model = str(mine)
    qtbot.keyClicks(panel.prompt_edit, "a lighthouse on a rocky cliff")
    qtbot.keyClicks(panel.negative_edit, "fog")
    first.document.update(
        {"steps": 7, "cfg_scale": 4.5, "sampler": "dpmpp_2m", "schedule": "karras", "width": 96, "height": 64}
    )
    first.document.seed, first.document.seed_locked = 4242, True
    generate_and_wait(qtbot, first)
    assert first.history.panel.list.count() == 1
    first.close()

    second = make_window(qtbot, tmp_path, ScriptedEngine(), settings)
    second.document.update({"prompt": "something else", "negative_prompt": "", "steps": 30, "model": ""})
    second.document.update({"sampler": "euler", "schedule": "normal", "cfg_scale": 7.0, "seed": 1})
    history = second.history.panel
    qtbot.keyClicks(history.search_edit, "lighthouse")
    qtbot.waitUntil(lambda: history.list.count() == 1 and "found" in history.status.text(), timeout=3000)
    row = history.rows[0]
    qtbot.mouseClick(row.restore_button, Qt.MouseButton.LeftButton)

    panel = second.prompt_panel
    assert panel.prompt_edit.toPlainText() == "a lighthouse on a rocky cliff"
    assert panel.negative_edit.toPlainText() == "fog"
    assert panel.steps_spin.value() == 7 and panel.cfg_spin.value() == 4.5
    assert panel.sampler_combo.currentText() == "DPM++ 2M" and panel.schedule_combo.currentText() == "Karras"
    assert (panel.width_spin.value(), panel.height_spin.value()) == (96, 64)
    assert panel.seed_spin.value() == 4242 and second.document.seed_locked
    assert second.document.model == str(mine) and second.model_selector.currentText().startswith("mine")

    qtbot.keyClicks(history.search_edit, " nowhere")  # every word must be in the prompt
    qtbot.waitUntil(lambda: history.list.count() == 0, timeout=3000)


def test_the_model_filter_shows_one_models_entries(qtbot, tmp_path, engine):
    settings = temporary_settings(tmp_path)
    mine = settings.models_folder / "mine.safetensors"
    mine.write_bytes(b"sd")
    window = make_window(qtbot, tmp_path, engine, settings)
    qtbot.waitUntil(lambda: window.models.entry_for(str(mine)) is not None, timeout=5000)
    for model, prompt in (("", "a demo square"), (str(mine), "my own square"), ("", "another demo square")):
        window.document.update({"model": model, "prompt": prompt, "width": 64, "height": 64})
        generate_and_wait(qtbot, window)
    panel = window.history.panel
    names = [panel.model_combo.itemText(i) for i in range(panel.model_combo.count())]
    assert names == ["All models", "demo", "mine"]  # the most recently used first
    panel.model_combo.setFocus()
    qtbot.keyClick(panel.model_combo, Qt.Key.Key_End)  # "mine"
    assert [r.entry.prompt for r in panel.rows] == ["my own square"]
    qtbot.keyClicks(panel.search_edit, "square")
    qtbot.waitUntil(lambda: "found" in panel.status.text(), timeout=3000)
    assert [r.entry.prompt for r in panel.rows] == ["my own square"]  # the filter stays while searching
    qtbot.keyClick(panel.model_combo, Qt.Key.Key_Home)  # "All models"
    assert [r.entry.prompt for r in panel.rows] == ["another demo square", "my own square", "a demo square"]


def test_result_files_that_are_gone_are_shown_as_missing(qtbot, tmp_path, engine):
    window = make_window(qtbot, tmp_path, engine)
    window.document.prompt = "first picture"
    generate_and_wait(qtbot, window)
    window.document.prompt = "second picture"
    generate_and_wait(qtbot, window)
    panel = window.history.panel
    assert [r.entry.prompt for r in panel.rows] == ["second picture", "first picture"]
    assert [panel.model_combo.itemText(i) for i in range(panel.model_combo.count())] == ["All models", "demo"]

    saved = window.gallery.results[0].path  # the second picture's file
    saved.unlink()
    panel.refresh()
    row = panel.rows[0]
    assert "1 missing" in row.text.text() and "(missing)" in row.findChildren(type(row.text))[0].toolTip()
    assert not row.ticks[0].isEnabled()  # a missing file cannot be compared, and nothing crashed
    qtbot.mouseClick(row.restore_button, Qt.MouseButton.LeftButton)  # its parameters still restore
    assert window.document.prompt == "second picture"


def test_a_damaged_history_file_is_kept_and_the_app_starts_with_a_new_one(qtbot, tmp_path, engine):
    settings = temporary_settings(tmp_path)
    settings.data_folder.mkdir(parents=True)
    (settings.data_folder / FILE_NAME).write_bytes(b"definitely not sqlite" * 40)
    window = make_window(qtbot, tmp_path, engine, settings)
    assert "history database was unusable" in window.notice.text and window.notice.kind == "error"
    backups = list(settings.data_folder.glob(f"{FILE_NAME}.unusable-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == b"definitely not sqlite" * 40
    window.document.prompt = "after the damage"
    generate_and_wait(qtbot, window)
    assert [r.entry.prompt for r in window.history.panel.rows] == ["after the damage"]


def test_a_locked_history_says_so_once_and_keeps_the_entry(qtbot, tmp_path, engine):
    window = make_window(qtbot, tmp_path, engine)
    window.history.database.timeout = 0.1
    window.history.database._db.execute("PRAGMA busy_timeout = 100")
    holder = sqlite3.connect(window.history.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    window.document.prompt = "during the lock"
    generate_and_wait(qtbot, window)
    assert "locked by another program" in window.notice.text
    assert window.history.database.pending == 1
    holder.execute("ROLLBACK")
    holder.close()
    window.notice.dismiss()
    window.document.prompt = "after the lock"
    generate_and_wait(qtbot, window)
    assert window.notice.text == ""
    assert [r.entry.prompt for r in window.history.panel.rows] == ["after the lock", "during the lock"]


def test_a_history_locked_at_start_is_opened_at_the_next_result(qtbot, tmp_path, engine):
    settings = temporary_settings(tmp_path)
    path = settings.data_folder / FILE_NAME
    settings.data_folder.mkdir(parents=True)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE held (x)")  # (its own table: what matters is the lock)
    holder.execute("PRAGMA journal_mode = DELETE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO held VALUES (1)")
    window = make_window(qtbot, tmp_path, engine, settings)
    assert "locked by another program" in window.notice.text and window.history.database is None
    assert window.history.panel.status.text() == "The history is not available."
    holder.execute("ROLLBACK")
    holder.execute("DROP TABLE held")
    holder.close()
    window.document.prompt = "once it is free"
    generate_and_wait(qtbot, window)
    assert window.history.database is not None
    assert [r.entry.prompt for r in window.history.panel.rows] == ["once it is free"]
