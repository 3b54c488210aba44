""" "Variations of this" on a gallery result: neighbours with its seed and new variation seeds."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication, QMenu

from ldm_studio.engine.metadata import read_png_request
from tests.gui.fake_engine import ScriptedEngine
from tests.gui.test_main_window import press_generate, wait_done
from tests.gui.window_fixtures import make_window


def _right_click_and_choose(qtbot, gallery, row: int, label: str) -> None:
    """Right-click the thumbnail and click `label` in its menu. The offscreen platform makes no context-menu
    event from a synthetic right button, so the one it would deliver is sent; the menu is clicked for real."""
    viewport = gallery.list.viewport()
    pos = gallery.list.visualItemRect(gallery.list.item(row)).center()
    QApplication.sendEvent(
        viewport, QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, viewport.mapToGlobal(pos))
    )
    qtbot.waitUntil(lambda: isinstance(QApplication.activePopupWidget(), QMenu), timeout=2000)
    menu = QApplication.activePopupWidget()
    action = next(a for a in menu.actions() if a.text() == label)
    qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(action).center())


def test_variations_of_a_batch_image_keep_its_seed_and_step_the_variation_seed(qtbot, tmp_path):
    engine = ScriptedEngine()
    window = make_window(qtbot, tmp_path, engine)
    window.document.steps = 1
    window.document.batch_size = 2
    qtbot.keyClicks(window.prompt_panel.prompt_edit, "a red circle")
    press_generate(qtbot, window)
    wait_done(qtbot, window)
    first = engine.runs[0]
    second_image = next(r for r in window.gallery.results if r.seed == first.seed + 1)
    assert second_image.request.seed == first.seed + 1 and second_image.request.batch_size == 1

    window.gallery.variation_count.setValue(3)
    window.gallery.variation_strength.setValue(0.4)
    row = window.gallery.results.index(second_image)
    _right_click_and_choose(qtbot, window.gallery, row, "Variations of this")
    wait_done(qtbot, window)

    varied = engine.runs[1]
    assert (varied.seed, varied.batch_size, varied.variation_strength) == (first.seed + 1, 3, 0.4)
    assert varied.prompt == "a red circle" and varied.variation_seed is not None
    newest = window.gallery.results[:3]
    assert {r.seed for r in newest} == {first.seed + 1}  # neighbours of that image: its seed
    assert sorted(r.request.variation_seed for r in newest) == [varied.variation_seed + i for i in range(3)]
    assert all("Variation seed strength: 0.4" in r.infotext for r in newest)
    # Each saved file reopens as the one image it is (its variation seed, a batch of one).
    saved = sorted((tmp_path / "outputs").glob("*.png"))
    stored = {read_png_request(path).variation_seed for path in saved} - {None}
    assert stored == {varied.variation_seed + i for i in range(3)}
