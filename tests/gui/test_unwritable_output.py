"""An output folder that cannot take the image is found before the run: one line, nothing run."""

from __future__ import annotations

import os

import pytest

from tests.gui.fake_engine import ScriptedEngine
from tests.gui.test_main_window import press_generate, wait_done
from tests.gui.window_fixtures import make_window


def _check_not_run(qtbot, window, engine, folder, reason: str) -> None:
    window.settings.outputs_folder = folder
    press_generate(qtbot, window)
    text = window.notice.text
    assert window.notice.kind == "error" and "\n" not in text
    assert text.startswith(f"Nothing was run: Cannot save into {folder}: ") and reason in text
    assert engine.runs == [] and not window.runner.busy and window.runner.queue.next_queued() is None
    assert window.gallery.list.count() == 0 and window.history.panel.list.count() == 0
    assert window.prompt_panel.generate_button.isEnabled()  # not left looking busy


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_a_read_only_output_folder_is_found_before_the_run(qtbot, tmp_path):
    engine = ScriptedEngine()
    window = make_window(qtbot, tmp_path, engine)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        _check_not_run(qtbot, window, engine, locked, "Permission denied")
    finally:
        locked.chmod(0o700)


def test_an_output_folder_under_a_file_is_found_before_the_run_and_a_good_one_runs(qtbot, tmp_path):
    engine = ScriptedEngine()
    window = make_window(qtbot, tmp_path, engine)
    window.document.steps = 1
    (tmp_path / "file").write_text("x")
    _check_not_run(qtbot, window, engine, tmp_path / "file" / "out", "is a file, not a folder")

    window.settings.outputs_folder = tmp_path / "fixed"  # chosen again: the next press runs
    press_generate(qtbot, window)
    wait_done(qtbot, window)
    assert len(engine.runs) == 1 and window.gallery.results[0].path.parent == tmp_path / "fixed"
