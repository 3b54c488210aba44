"""The colour sketch on the canvas, driven by real mouse and key events."""

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QInputDevice, QPointingDevice, QTabletEvent
from PySide6.QtWidgets import QApplication

from ldm_studio.gui.canvas.sketch_layer import SketchLayer
from ldm_studio.gui.canvas.sketch_tool import SketchTool
from ldm_studio.gui.canvas.view import View
from ldm_studio.gui.canvas.widget import Canvas
from ldm_studio.gui.mask.brush import Brush

LEFT = Qt.MouseButton.LeftButton
CTRL, ALT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.AltModifier
NOMOD = Qt.KeyboardModifier.NoModifier
TABLET = QEvent.Type


def gradient(height=100, width=120) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 0] = np.arange(width, dtype=np.uint8)[None, :] * 2
    image[..., 1] = np.arange(height, dtype=np.uint8)[:, None] * 2
    image[..., 2] = 77
    return image


@pytest.fixture
def canvas(qtbot):
    canvas = Canvas()
    qtbot.addWidget(canvas)
    canvas.resize(400, 300)
    canvas.show()
    qtbot.waitExposed(canvas)
    canvas.set_image(gradient())
    canvas.set_view(View(1.0, 10.0, 20.0))  # image pixel (x, y) is drawn at widget (10 + x, 20 + y)
    canvas.setFocus()
    return canvas


@pytest.fixture
def sketch(canvas):
    tool = SketchTool(canvas)
    tool.set_color(QColor(0, 200, 40))
    tool.set_tool("brush")
    canvas.set_brush_size(9)
    return tool


def drag(qtbot, canvas, points, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.mousePress(canvas, LEFT, modifier, QPoint(*points[0]))
    for point in points[1:]:
        qtbot.mouseMove(canvas, QPoint(*point))
    qtbot.mouseRelease(canvas, LEFT, modifier, QPoint(*points[-1]))


def shown_colour(canvas, x, y) -> tuple[int, int, int]:
    """What the widget shows at image pixel (x, y) (view offset 10, 20 at 100%)."""
    return QColor(canvas.grab().toImage().pixel(10 + x, 20 + y)).getRgb()[:3]


def test_a_stroke_paints_the_colour_at_those_pixels_and_leaves_the_mask_alone(qtbot, canvas, sketch):
    drag(qtbot, canvas, [(30, 40), (60, 40), (60, 70)])  # image (20, 20) → (50, 20) → (50, 50)
    rgba = sketch.layer.to_rgba()
    for x, y in ((20, 20), (35, 20), (50, 20), (50, 35), (50, 50)):
        assert tuple(rgba[y, x]) == (0, 200, 40, 255)
    assert rgba[20, 70, 3] == 0 and rgba[80, 20, 3] == 0  # away from the stroke: transparent
    assert not canvas.mask().any() and not canvas.can_undo()  # the mask and its history saw nothing
    assert shown_colour(canvas, 35, 20) == (0, 200, 40)  # on screen over the image
    assert shown_colour(canvas, 80, 80) == tuple(gradient()[80, 80])
    composite = sketch.layer.composite(canvas.image())
    assert tuple(composite[20, 35]) == (0, 200, 40) and np.array_equal(composite[80], gradient()[80])


def test_ctrl_z_undoes_the_sketch_stroke_and_redo_brings_it_back(qtbot, canvas, sketch):
    drag(qtbot, canvas, [(30, 40), (60, 40)])
    painted = sketch.layer.pixels.copy()
    drag(qtbot, canvas, [(30, 60), (60, 60)])
    qtbot.keyClick(canvas, Qt.Key.Key_Z, CTRL)
    assert np.array_equal(sketch.layer.pixels, painted)  # only the second stroke is gone
    qtbot.keyClick(canvas, Qt.Key.Key_Z, CTRL)
    assert sketch.layer.is_empty()
    qtbot.keyClick(canvas, Qt.Key.Key_Y, CTRL)
    assert np.array_equal(sketch.layer.pixels, painted)
    assert shown_colour(canvas, 35, 20) == (0, 200, 40)


def test_mask_and_sketch_keep_separate_undo_stacks(qtbot, canvas, sketch):
    sketch.set_tool("")  # the mask brush
    drag(qtbot, canvas, [(30, 80), (60, 80)])
    assert canvas.mask()[60, 35] == 255
    sketch.set_tool("brush")
    drag(qtbot, canvas, [(30, 40), (60, 40)])
    qtbot.keyClick(canvas, Qt.Key.Key_Z, CTRL)  # sketching: undoes the sketch
    assert sketch.layer.is_empty() and canvas.mask()[60, 35] == 255
    sketch.set_tool("")
    qtbot.keyClick(canvas, Qt.Key.Key_Z, CTRL)  # the mask tools: undoes the mask
    assert not canvas.mask().any()


def test_the_eraser_removes_paint(qtbot, canvas, sketch):
    drag(qtbot, canvas, [(30, 40), (60, 40)])
    qtbot.keyClick(canvas, Qt.Key.Key_E)
    assert sketch.tool() == "eraser"
    drag(qtbot, canvas, [(30, 40), (45, 40)])
    rgba = sketch.layer.to_rgba()
    assert rgba[20, 25, 3] == 0 and tuple(rgba[20, 45]) == (0, 200, 40, 255)


def test_alt_click_and_the_picker_take_the_image_colour(qtbot, canvas, sketch):
    qtbot.mouseClick(canvas, LEFT, ALT, QPoint(10 + 33, 20 + 44))
    assert sketch.color().getRgb()[:3] == tuple(gradient()[44, 33])
    assert sketch.layer.is_empty()  # picking paints nothing
    sketch.set_tool("picker")
    qtbot.mouseClick(canvas, LEFT, pos=QPoint(10 + 70, 20 + 5))
    assert sketch.color().getRgb()[:3] == tuple(gradient()[5, 70])


def test_brush_size_keys_size_the_sketch_brush(qtbot, canvas, sketch):
    canvas.set_brush_size(3)
    for _ in range(8):
        qtbot.keyClick(canvas, Qt.Key.Key_BracketRight)
    assert canvas.brush().size > 9
    drag(qtbot, canvas, [(30, 50), (31, 50)])
    alpha = sketch.layer.to_rgba()[..., 3]
    assert alpha[30, 21] == 255 and alpha[30 + int(canvas.brush().size / 2) - 1, 21] == 255


def test_a_new_image_of_the_same_size_hides_the_sketch_and_a_new_size_drops_it(qtbot, canvas, sketch):
    drag(qtbot, canvas, [(30, 40), (60, 40)])
    canvas.set_image(gradient())  # a result of the same size: it has the sketch in it already
    assert not sketch.visible() and not sketch.layer.is_empty() and not sketch.applies()
    sketch.set_visible(True)
    assert sketch.applies()
    sketch.expect_resize(16, 0)  # outpainting: the old image is now at x = 16
    canvas.set_image(gradient(100, 144))
    assert tuple(sketch.layer.to_rgba()[20, 16 + 35]) == (0, 200, 40, 255)
    canvas.set_image(gradient(50, 50))
    assert sketch.layer.is_empty() and (sketch.layer.height, sketch.layer.width) == (50, 50)


def test_layer_rgba_round_trip_and_composite_blend():
    layer = SketchLayer(4, 4)
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[1, 1] = (200, 100, 50, 128)
    rgba[2, 2] = (10, 20, 30, 255)
    layer.set_rgba(rgba)
    back = layer.to_rgba()
    assert tuple(back[2, 2]) == (10, 20, 30, 255) and np.abs(back[1, 1].astype(int) - rgba[1, 1]).max() <= 1
    image = np.full((4, 4, 3), 100, np.uint8)
    out = layer.composite(image)
    assert tuple(out[2, 2]) == (10, 20, 30) and tuple(out[0, 0]) == (100, 100, 100)
    assert np.abs(out[1, 1].astype(int) - [150, 100, 75]).max() <= 1  # half-way at alpha 128
    assert layer.painted_mask()[1, 1] == 255 and layer.painted_mask().sum() == 2 * 255


def test_a_soft_brush_blends_and_overlapping_segments_do_not_darken():
    layer = SketchLayer(40, 80)
    layer.begin_stroke(Brush(size=20, hardness=0.0), (255, 0, 0), (10.0, 20.0))
    for x in range(11, 70):
        layer.continue_stroke((float(x), 20.0))
    layer.end_stroke()
    alpha = layer.to_rgba()[..., 3]
    assert alpha[20, 40] == 255 and 0 < alpha[27, 40] < 255  # soft edge
    assert abs(int(alpha[27, 30]) - int(alpha[27, 50])) <= 1  # same coverage along the stroke


def test_a_segment_on_a_4096_layer_changes_and_reports_only_the_pixels_near_it():
    layer = SketchLayer(4096, 4096)
    layer.begin_stroke(Brush(size=60), (1, 2, 3), (2000.0, 2000.0))
    before = layer.pixels.copy()
    changed = layer.continue_stroke((2009.0, 2000.0))
    left, top, right, bottom = changed
    assert left >= 2000 - 31 and right <= 2009 + 32 and top >= 2000 - 32 and bottom <= 2000 + 32
    after = layer.pixels.copy()
    after[top:bottom, left:right] = before[top:bottom, left:right]
    assert np.array_equal(after, before)  # nothing outside the reported rectangle changed
    assert not np.array_equal(layer.pixels[top:bottom, left:right], before[top:bottom, left:right])
    assert layer.end_stroke() and layer.history.can_undo()
    layer.undo()
    assert layer.is_empty()


def test_a_pen_sketches_with_pressure_and_leaves_the_mask_alone(canvas, sketch):
    pen = QPointingDevice(  # kept alive here: a tablet event only points at its device
        "test pen",
        8,
        QInputDevice.DeviceType.Stylus,
        QPointingDevice.PointerType.Pen,
        QInputDevice.Capability.Position | QInputDevice.Capability.Pressure,
        1,
        2,
    )
    canvas.set_brush_size(20)
    for y, pressure in ((40, 1.0), (90, 0.3)):  # widget rows
        for kind, x in (
            (QEvent.Type.TabletPress, 30),
            (QEvent.Type.TabletMove, 100),
            (QEvent.Type.TabletRelease, 100),
        ):
            buttons = Qt.MouseButton.NoButton if kind == TABLET.TabletRelease else LEFT
            point = QPointF(x, y)
            event = QTabletEvent(kind, pen, point, point, pressure, 0, 0, 0, 0, 0, NOMOD, LEFT, buttons)
            QApplication.sendEvent(canvas, event)
    alpha = sketch.layer.to_rgba()[..., 3]
    assert (alpha[:50, 55] > 127).sum() == 20 and (alpha[50:, 55] > 127).sum() == 6
    assert not canvas.mask().any() and sketch.layer.history.can_undo()


def test_the_colour_button_opens_the_picker_and_the_swatch_follows(qtbot, canvas, sketch, monkeypatch):
    from PySide6.QtWidgets import QColorDialog

    from ldm_studio.gui.canvas.sketch_bar import SketchToolbar

    bar = SketchToolbar(sketch)
    qtbot.addWidget(bar)
    asked = []
    monkeypatch.setattr(
        QColorDialog, "getColor", lambda initial, *args: asked.append(initial) or QColor(10, 20, 250)
    )
    bar.color_action.trigger()
    assert asked and asked[0].getRgb()[:3] == (0, 200, 40)  # opened on the current colour
    assert sketch.color().getRgb()[:3] == (10, 20, 250)
    assert bar.color_action.icon().pixmap(16, 16).toImage().pixelColor(8, 8).getRgb()[:3] == (10, 20, 250)
    qtbot.keyClick(canvas, Qt.Key.Key_I)
    assert bar.tool_actions["picker"].isChecked() and sketch.tool() == "picker"
