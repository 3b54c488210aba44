"""Opening images, importing and exporting masks, and what bad files do (nothing, plus a message)."""

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from ldm_studio.gui.canvas.widget import Canvas


@pytest.fixture
def canvas(qtbot):
    canvas = Canvas()
    qtbot.addWidget(canvas)
    canvas.resize(300, 240)
    canvas.show()
    qtbot.waitExposed(canvas)
    image = np.zeros((80, 100, 3), np.uint8)
    image[:, :, 0] = np.arange(100, dtype=np.uint8)
    canvas.set_image(image)
    mask = np.zeros((80, 100), np.uint8)
    mask[10:30, 20:50] = 255
    canvas.set_mask(mask)
    return canvas


def save_png(path, array):
    Image.fromarray(array).save(path)
    return path


def test_opening_an_image_file_shows_it_with_an_empty_mask(qtbot, canvas, tmp_path):
    picture = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    path = save_png(tmp_path / "photo.png", picture)
    with qtbot.waitSignal(canvas.imageChanged):
        assert canvas.open_image_file(path)
    np.testing.assert_array_equal(canvas.image(), picture)
    assert canvas.mask().shape == (50, 70) and not canvas.mask().any()
    assert not canvas.can_undo()


def _garbage_files(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture")
    good = tmp_path / "good.png"
    Image.fromarray(np.full((64, 64, 3), 7, np.uint8)).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:60])
    return {
        "not an image": text,
        "truncated": truncated,
        "missing": tmp_path / "nowhere.png",
        "folder": tmp_path,
    }


@pytest.mark.parametrize("kind", ["not an image", "truncated", "missing", "folder"])
def test_a_bad_image_file_leaves_the_canvas_as_it_was_and_says_why(qtbot, canvas, tmp_path, kind):
    path = _garbage_files(tmp_path)[kind]
    image_before, mask_before = canvas.image().copy(), canvas.mask()
    with qtbot.waitSignal(canvas.errorOccurred) as error:
        assert not canvas.open_image_file(path)
    assert path.name in error.args[0]
    assert canvas.message() == error.args[0]  # shown on the canvas too
    np.testing.assert_array_equal(canvas.image(), image_before)
    np.testing.assert_array_equal(canvas.mask(), mask_before)
    assert canvas.can_undo()  # the history survived as well


def test_dropping_a_non_image_file_shows_a_message_and_changes_nothing(qtbot, canvas, tmp_path):
    path = _garbage_files(tmp_path)["not an image"]
    image_before = canvas.image().copy()
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(path))])
    rest = (Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    # QDragEnterEvent takes an integer QPoint in PySide6 6.11, QDropEvent a QPointF.
    enter, drop = QDragEnterEvent(QPoint(50, 50), *rest), QDropEvent(QPointF(50, 50), *rest)
    QApplication.sendEvent(canvas, enter)  # Qt delivers a drop only where a drag entered
    assert enter.isAccepted()
    with qtbot.waitSignal(canvas.errorOccurred):
        QApplication.sendEvent(canvas, drop)
    assert "notes.png" in canvas.message()
    np.testing.assert_array_equal(canvas.image(), image_before)


def test_export_then_import_round_trips_the_mask(canvas, tmp_path):
    canvas.set_brush_size(7)
    canvas.begin_stroke(5.0, 70.0)
    canvas.continue_stroke(95.0, 40.0)
    canvas.end_stroke()
    painted = canvas.mask()
    path = tmp_path / "mask.png"
    assert canvas.export_mask_file(path)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), painted)
    canvas.clear_mask()
    assert canvas.import_mask_file(path)
    np.testing.assert_array_equal(canvas.mask(), painted)
    canvas.undo()  # the import is one undo step
    assert not canvas.mask().any()


def test_export_never_overwrites_a_file_unless_asked(canvas, tmp_path):
    path = tmp_path / "keep.png"
    path.write_bytes(b"precious")
    assert not canvas.export_mask_file(path)
    assert path.read_bytes() == b"precious"
    assert "already exists" in canvas.message()
    assert canvas.export_mask_file(path, overwrite=True)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), canvas.mask())


def test_a_mask_of_another_size_is_scaled_to_the_image_with_a_notice(qtbot, canvas, tmp_path):
    small = np.zeros((40, 50), np.uint8)
    small[:, :25] = 255  # left half
    path = save_png(tmp_path / "half.png", small)
    with qtbot.waitSignal(canvas.noticeOccurred) as notice:
        assert canvas.import_mask_file(path)
    assert "50×40" in notice.args[0] and "100×80" in notice.args[0]
    mask = canvas.mask()
    assert mask.shape == (80, 100)
    assert (mask[:, :48] == 255).all() and (mask[:, 52:] == 0).all()


def test_a_transparent_mask_png_counts_transparent_as_unmasked(canvas, tmp_path):
    rgba = np.zeros((80, 100, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[:40, :, 3] = 255  # opaque white on top, transparent white below
    assert canvas.import_mask_file(save_png(tmp_path / "layer.png", rgba))
    assert (canvas.mask()[:40] == 255).all() and not canvas.mask()[40:].any()


def test_importing_a_bad_mask_file_keeps_the_mask(qtbot, canvas, tmp_path):
    before = canvas.mask()
    with qtbot.waitSignal(canvas.errorOccurred):
        assert not canvas.import_mask_file(_garbage_files(tmp_path)["truncated"])
    np.testing.assert_array_equal(canvas.mask(), before)


def test_invert_and_grow_change_the_mask_and_undo_back(canvas):
    before = canvas.mask()
    canvas.invert_mask()
    np.testing.assert_array_equal(canvas.mask(), 255 - before)
    canvas.invert_mask()
    np.testing.assert_array_equal(canvas.mask(), before)
    canvas.grow_mask(5)
    grown = canvas.mask()
    assert (grown[5:35, 20:50] == 255).all() and grown[4, 35] == 0 and grown[5, 15] == 0  # round corner
    canvas.shrink_mask(5)
    np.testing.assert_array_equal(canvas.mask(), before)
    canvas.undo()
    canvas.undo()
    np.testing.assert_array_equal(canvas.mask(), before)
