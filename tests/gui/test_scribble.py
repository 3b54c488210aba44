"""The scribble (a ControlNet control map) in the main window, driven by real mouse and key events:
white lines on black, its own undo, clear, import, export, the session, outpaint, the draw cost."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt

from ldm_studio.engine.errors import InputError
from ldm_studio.gui.canvas.scribble_window import export_scribble, import_control_image
from ldm_studio.gui.canvas.toolbar import CanvasToolbar
from tests.gui.fake_engine import ScriptedEngine
from tests.gui.test_outpaint import click_action
from tests.gui.test_sketch_window import paint
from tests.gui.window_fixtures import make_window, temporary_settings

LEFT = Qt.MouseButton.LeftButton
CTRL, SHIFT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def window(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, ScriptedEngine())
    window.canvas.set_image(np.full((64, 96, 3), 100, np.uint8))
    window.canvas.zoom_to_100()
    return window


def scribble(qtbot, window, xs=range(20, 41, 4), y=30, tool="scribble", size=6) -> None:
    """Draw a horizontal line through image points (x, y) with the toolbar's tool and real mouse events."""
    canvas = window.canvas
    action = window.scribble_toolbar.tool_actions[tool]
    if not action.isChecked():
        action.trigger()
    canvas.set_brush_size(size)
    points = [QPoint(*map(round, canvas.view().to_widget(x, y))) for x in xs]
    qtbot.mousePress(canvas, LEFT, pos=points[0])
    for point in points[1:]:
        qtbot.mouseMove(canvas, point)
    qtbot.mouseRelease(canvas, LEFT, pos=points[-1])


def test_a_stroke_is_white_on_black_in_the_control_map(qtbot, window):
    assert window.scribble.control_pixels() is None and not window.scribble.has_scribble()
    changes = []
    window.scribble.scribbleChanged.connect(lambda: changes.append(1))
    scribble(qtbot, window)
    pixels = window.scribble.control_pixels()
    assert pixels.shape == (64, 96, 3) and pixels.dtype == np.uint8
    assert (pixels[30, 20:41] == 255).all()  # the line
    assert (pixels[:20] == 0).all() and (pixels[40:] == 0).all() and (pixels[:, 50:] == 0).all()
    assert window.scribble.has_scribble() and changes
    assert not window.canvas.mask().any() and window.sketch.layer.is_empty()  # nothing else painted
    shown = window.canvas.grab().toImage().pixelColor(*map(round, window.canvas.view().to_widget(30, 30)))
    assert shown.red() > 200  # white over the grey image, at reduced opacity
    assert window.canvas.image()[30, 30, 0] == 100  # the image itself is untouched


def test_the_eraser_takes_lines_away(qtbot, window):
    scribble(qtbot, window)
    scribble(qtbot, window, xs=range(28, 33, 2), tool="eraser", size=8)
    pixels = window.scribble.control_pixels()
    assert (pixels[30, 30] == 0).all() and (pixels[30, 20] == 255).all() and (pixels[30, 40] == 255).all()


def test_its_own_undo_and_redo_leave_the_mask_and_the_sketch_alone(qtbot, window):
    window.canvas.begin_stroke(70.0, 50.0)  # a mask stroke (mask tool API)
    window.canvas.end_stroke()
    paint(qtbot, window, y=10)  # a sketch stroke
    mask, sketch = window.canvas.mask().copy(), window.sketch.layer.to_rgba()
    scribble(qtbot, window, y=30)
    first = window.scribble.control_pixels()
    assert window.sketch.tool() == ""  # one tool has the canvas
    scribble(qtbot, window, y=50)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, CTRL)
    assert np.array_equal(window.scribble.control_pixels(), first)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, CTRL)
    assert window.scribble.control_pixels() is None
    assert np.array_equal(window.canvas.mask(), mask) and np.array_equal(
        window.sketch.layer.to_rgba(), sketch
    )
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, CTRL | SHIFT)
    assert np.array_equal(window.scribble.control_pixels(), first)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Y, CTRL)
    assert (window.scribble.control_pixels()[50, 30] == 255).all()
    assert np.array_equal(window.canvas.mask(), mask) and np.array_equal(
        window.sketch.layer.to_rgba(), sketch
    )
    window.findChild(CanvasToolbar).brush_action.trigger()  # the mask brush takes the canvas back
    assert window.scribble.tool() == ""


def test_clear_is_one_undoable_step_and_show_hides_it(qtbot, window):
    scribble(qtbot, window)
    before = window.scribble.control_pixels()
    bar = window.scribble_toolbar
    bar.clear_action.trigger()
    assert window.scribble.control_pixels() is None
    window.scribble.undo()
    assert np.array_equal(window.scribble.control_pixels(), before)
    point = tuple(map(round, window.canvas.view().to_widget(30, 30)))
    bar.show_action.trigger()
    assert not window.scribble.visible()
    assert window.canvas.grab().toImage().pixelColor(*point).red() == 100  # hidden: the image shows


def test_a_new_result_keeps_the_scribble_shown(qtbot, window):
    scribble(qtbot, window)
    window.canvas.set_image(np.full((64, 96, 3), 30, np.uint8))
    assert window.scribble.visible() and window.scribble.has_scribble()


def test_import_control_image_loads_a_grey_map_scaled_to_the_image(qtbot, window, tmp_path):
    depth = np.tile(np.arange(0, 256, 8, dtype=np.uint8), (64, 3))[:, :96]  # a 96x64 grey ramp
    Image.fromarray(depth).save(tmp_path / "depth.png")
    assert import_control_image(window.scribble, tmp_path / "depth.png") == ""
    assert np.array_equal(window.scribble.control_pixels(), np.repeat(depth[..., None], 3, axis=2))
    Image.fromarray(np.full((32, 48), 255, np.uint8)).save(tmp_path / "half.png")
    notice = import_control_image(window.scribble, tmp_path / "half.png")
    assert "scaled" in notice and (window.scribble.control_pixels() == 255).all()
    window.scribble.undo()  # the import is one undo step
    assert np.array_equal(window.scribble.control_pixels()[..., 0], depth)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(InputError):
        import_control_image(window.scribble, tmp_path / "broken.png")
    assert np.array_equal(window.scribble.control_pixels()[..., 0], depth)  # nothing lost
    assert window.import_control_action in window.menuBar().actions()[0].menu().actions()


def test_export_scribble_writes_the_map_as_a_png(qtbot, window, tmp_path):
    assert "no scribble" in export_scribble(window.scribble, tmp_path / "empty.png")
    assert not (tmp_path / "empty.png").exists()
    scribble(qtbot, window)
    assert export_scribble(window.scribble, tmp_path / "map.png") is None
    with Image.open(tmp_path / "map.png") as saved:
        assert saved.size == (96, 64)
        assert np.array_equal(np.asarray(saved.convert("L")), window.scribble.control_pixels()[..., 0])
    assert export_scribble(window.scribble, tmp_path / "missing" / "x.png") is not None
    assert window.export_scribble_action in window.menuBar().actions()[0].menu().actions()


def test_the_scribble_comes_back_after_a_restart_with_or_without_a_sketch(qtbot, tmp_path):
    image = np.random.default_rng(1).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    first = make_window(qtbot, tmp_path, ScriptedEngine(), temporary_settings(tmp_path))
    first.canvas.set_image(image)
    first.canvas.zoom_to_100()
    paint(qtbot, first, y=10)
    scribble(qtbot, first)
    kept, sketch = first.scribble.control_pixels(), first.sketch.layer.to_rgba()
    first.close()

    second = make_window(qtbot, tmp_path, ScriptedEngine(), temporary_settings(tmp_path))
    assert np.array_equal(second.canvas.image(), image)
    assert np.array_equal(second.scribble.control_pixels(), kept) and second.scribble.visible()
    assert np.array_equal(second.sketch.layer.to_rgba(), sketch) and second.sketch.visible()
    assert not second.scribble.layer.history.can_undo()
    second.sketch.clear()
    second.close()

    third = make_window(qtbot, tmp_path, ScriptedEngine(), temporary_settings(tmp_path))
    assert np.array_equal(third.canvas.image(), image)  # the scribble alone brings its image back
    assert np.array_equal(third.scribble.control_pixels(), kept)
    third.scribble.clear()
    third.close()

    fourth = make_window(qtbot, tmp_path, ScriptedEngine(), temporary_settings(tmp_path))
    assert fourth.canvas.image() is None and fourth.scribble.control_pixels() is None


def test_an_outpaint_moves_the_scribble_with_the_image(qtbot, window):
    scribble(qtbot, window)
    before = window.scribble.control_pixels()
    bar = window.outpaint_toolbar
    bar.side_choice.setCurrentText("left")
    click_action(qtbot, bar, bar.preset_actions[128])
    after = window.scribble.control_pixels()
    assert after.shape == (64, 96 + 128, 3)
    assert np.array_equal(after[:, 128:], before) and not after[:, :128].any()


def test_undoing_an_outpaint_brings_back_the_scribble_and_the_sketch_as_they_were(qtbot, window):
    """Canvas Ctrl+Z after an extension cuts both layers back to the old image (what was drawn on the old
    part since stays); Ctrl+Y moves them out again. Before, the undo dropped them."""
    scribble(qtbot, window)
    paint(qtbot, window, y=10)
    scribble_before, sketch_before = window.scribble.control_pixels(), window.sketch.layer.to_rgba()
    bar = window.outpaint_toolbar
    bar.side_choice.setCurrentText("left")
    click_action(qtbot, bar, bar.preset_actions[128])
    extended = window.scribble.control_pixels()
    window.findChild(CanvasToolbar).brush_action.trigger()  # the mask brush: Ctrl+Z is the canvas's
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, CTRL)
    assert window.canvas.image().shape == (64, 96, 3)
    assert np.array_equal(window.scribble.control_pixels(), scribble_before)
    assert np.array_equal(window.sketch.layer.to_rgba(), sketch_before)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Y, CTRL)
    assert window.canvas.image().shape == (64, 96 + 128, 3)
    assert np.array_equal(window.scribble.control_pixels(), extended)
    assert np.array_equal(window.sketch.layer.to_rgba()[:, 128:], sketch_before)
    window.canvas.set_image(np.zeros((32, 32, 3), np.uint8))  # a new picture of another size: a fresh start
    assert window.scribble.control_pixels() is None and window.sketch.layer.is_empty()


def test_a_segment_on_a_4096_canvas_repaints_only_its_rect(qtbot, window):
    window.canvas.set_image(np.zeros((4096, 4096, 3), np.uint8))
    window.canvas.zoom_to_100()
    rects = []
    repaint = window.canvas.repaint_image_rect
    window.canvas.repaint_image_rect = lambda rect: (rects.append(rect), repaint(rect))
    start = time.perf_counter()
    scribble(qtbot, window, xs=range(100, 161, 6), y=100, size=20)
    elapsed = time.perf_counter() - start
    assert len(rects) >= 10
    for left, top, right, bottom in rects:
        assert right - left <= 6 + 22 and bottom - top <= 22  # one segment's reach, not the canvas
    assert (window.scribble.control_pixels()[100, 100:161] == 255).all()
    print(f"\n11 scribble segments on a 4096² canvas: {elapsed * 1000:.0f} ms")
    assert elapsed < 3.0


def test_ctrl_z_while_sketching_undoes_the_sketch_even_with_a_mask_history(qtbot, window):
    window.canvas.begin_stroke(70.0, 50.0)  # the window's Undo action is enabled now
    window.canvas.end_stroke()
    mask = window.canvas.mask().copy()
    paint(qtbot, window, y=10)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, CTRL)
    assert window.sketch.layer.is_empty() and np.array_equal(window.canvas.mask(), mask)
