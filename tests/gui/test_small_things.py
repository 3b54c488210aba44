"""Small things users met (issue 21 part 5): the seed shown is the seed used, a refused Generate does not
roll the seed, the bundled demo upscaler is listed (a row of its own that opens the Upscale tab)."""

from __future__ import annotations

import pytest

from tests.gui.fake_engine import ScriptedEngine
from tests.gui.window_fixtures import make_window


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine()


def _wait(qtbot, window) -> None:
    qtbot.waitUntil(
        lambda: not window.runner.busy and window.runner.queue.next_queued() is None, timeout=5000
    )


def test_the_seed_field_shows_the_seed_the_run_used(qtbot, tmp_path, engine):
    window = make_window(qtbot, tmp_path, engine)
    window.document.steps = 1
    for _ in range(2):
        window.generate()
        _wait(qtbot, window)
        assert int(window.prompt_panel.seed_spin.value()) == engine.runs[-1].seed == window.document.seed


def test_generate_on_upscale_without_an_image_keeps_the_seed(qtbot, tmp_path, engine):
    window = make_window(qtbot, tmp_path, engine, demo_upscaler=True)
    window.document.mode = "upscale"
    window.document.seed = 1234
    assert window.generate() is None  # nothing to upscale: refused with a notice
    assert window.document.seed == 1234 and engine.runs == []
    assert window.notice.text


def test_the_models_panel_lists_the_bundled_demo_upscaler(qtbot, tmp_path, engine):
    window = make_window(qtbot, tmp_path, engine, demo_upscaler=True)
    (bundled,) = [entry for entry in window.models.entries if entry.bundled]
    assert "upscale" in bundled.modes and "Demo upscaler" in bundled.family_label
    tree = window.models_panel.tree
    labels = [tree.topLevelItem(i).text(1) for i in range(tree.topLevelItemCount())]
    assert any("Demo upscaler" in label for label in labels)


def test_the_two_demo_models_are_two_rows_and_the_upscaler_row_opens_the_upscale_tab(qtbot, tmp_path, engine):
    from PySide6.QtCore import Qt

    from ldm_studio.gui.panels.models import DEMO_TXT2IMG_NAME, DEMO_UPSCALER_NAME

    window = make_window(qtbot, tmp_path, engine, demo_upscaler=True)
    window.models_panel.parentWidget().raise_()  # its dock tab in front, so it can be clicked
    tree, tabs = window.models_panel.tree, window.prompt_panel.mode_tabs
    items = [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
    assert [item.text(0) for item in items] == [DEMO_TXT2IMG_NAME, DEMO_UPSCALER_NAME]
    assert "draws coloured shapes" in items[0].text(3) and "enlarges an image" in items[1].text(3)
    assert items[0].isSelected() and not items[1].isSelected()  # txt2img: the text-to-image demo

    def click(item) -> None:
        qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=tree.visualItemRect(item).center())

    click(items[1])
    assert window.document.mode == "upscale" and tabs.tabText(tabs.currentIndex()) == "Upscale ×4"
    assert window.document.model == "" and items[1].isSelected() and not items[0].isSelected()
    click(items[0])
    assert window.document.mode == "txt2img" and tabs.currentIndex() == 0 and items[0].isSelected()
    window.document.mode = "inpaint"  # a tab the text-to-image demo does: it stays chosen
    click(items[0])
    assert window.document.mode == "inpaint"
    qtbot.mouseClick(tabs, Qt.MouseButton.LeftButton, pos=tabs.tabRect(3).center())  # the Upscale tab
    assert window.document.mode == "upscale" and items[1].isSelected() and not items[0].isSelected()


def test_the_upscale_tab_hides_the_text_rows_a_text_free_upscaler_ignores(qtbot, tmp_path, engine):
    window = make_window(qtbot, tmp_path, engine, demo_upscaler=True)
    panel = window.prompt_panel
    assert panel.prompt_edit.isVisible() and panel.cfg_row.isVisible()
    window.document.mode = "upscale"
    assert not panel.prompt_edit.isVisible() and not panel.negative_edit.isVisible()
    assert not panel.cfg_row.isVisible()
    panel.set_model("sd-x4-upscaler", (512, 512))  # SD's x4 upscaler does read the prompt
    assert panel.prompt_edit.isVisible() and panel.cfg_row.isVisible()
    window.document.mode = "txt2img"
    assert panel.prompt_edit.isVisible()
