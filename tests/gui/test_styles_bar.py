"""The styles row as a user drives it: import an A1111 styles.csv, pick a style, save the prompts as one."""

from __future__ import annotations

from PySide6.QtCore import Qt

from ldm_studio.history.styles import Style, read_styles
from tests.gui.fake_engine import ScriptedEngine
from tests.gui.window_fixtures import make_window, temporary_settings

A1111 = (
    '\ufeffname,prompt,negative_prompt\nCinematic,"cinematic still of {prompt}, film grain",cartoon\n'
    "Oil,oil painting,\n"
)


def test_import_then_apply_a_style_with_the_keyboard(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, ScriptedEngine())
    bar = window.styles
    assert not bar.combo.isEnabled()  # no styles yet
    theirs = tmp_path / "a1111_styles.csv"
    theirs.write_text(A1111, encoding="utf-8")
    bar.ask_import_path = lambda parent: str(theirs)
    bar.import_action.trigger()
    assert [bar.combo.itemText(i) for i in range(bar.combo.count())] == ["Apply a style…", "Cinematic", "Oil"]
    assert (window.settings.data_folder / "styles.csv").is_file()
    assert theirs.read_text(encoding="utf-8") == A1111  # only read

    qtbot.keyClicks(window.prompt_panel.prompt_edit, "a fox")
    qtbot.keyClicks(window.prompt_panel.negative_edit, "blurry")
    bar.combo.setFocus()
    qtbot.keyClick(bar.combo, Qt.Key.Key_Down)  # "Cinematic"
    assert window.prompt_panel.prompt_edit.toPlainText() == "cinematic still of a fox, film grain"
    assert window.prompt_panel.negative_edit.toPlainText() == "blurry, cartoon"
    assert bar.combo.currentIndex() == 0  # ready for the next one
    bar.combo.setCurrentIndex(1)  # (no signal: as if the user looked at the list and left it)
    qtbot.keyClick(bar.combo, Qt.Key.Key_Down)  # "Oil"
    assert window.document.prompt == "cinematic still of a fox, film grain, oil painting"


def test_save_the_prompts_as_a_style_and_find_it_after_a_restart(qtbot, tmp_path):
    settings = temporary_settings(tmp_path)
    window = make_window(qtbot, tmp_path, ScriptedEngine(), settings)
    window.document.prompt, window.document.negative_prompt = "{prompt}, watercolour", "photo"
    window.styles.ask_name = lambda parent: "Watercolour"
    window.styles.save_action.trigger()
    window.styles.save_action.trigger()  # the same name again: refused, nothing overwritten
    assert "exists already" in window.notice.text
    assert read_styles(settings.data_folder / "styles.csv") == [
        Style("Watercolour", "{prompt}, watercolour", "photo")
    ]
    window.close()
    again = make_window(qtbot, tmp_path, ScriptedEngine(), settings)
    assert again.styles.combo.itemText(1) == "Watercolour"


def test_an_unreadable_styles_file_is_left_alone(qtbot, tmp_path):
    settings = temporary_settings(tmp_path)
    settings.data_folder.mkdir(parents=True)
    ours = settings.data_folder / "styles.csv"
    ours.write_bytes(b"prompt;negative\n\xff\xfe")
    window = make_window(qtbot, tmp_path, ScriptedEngine(), settings)
    assert "styles.csv" in window.notice.text and "read-only" in window.notice.text
    window.styles.ask_name = lambda parent: "New"
    window.styles.save_action.trigger()
    assert ours.read_bytes() == b"prompt;negative\n\xff\xfe"
