"""Undo history of the mask (Qt-free): exact restores and bounded memory."""

import numpy as np

from ldm_studio.gui.mask.brush import Brush
from ldm_studio.gui.mask.document import MaskDocument
from ldm_studio.gui.mask.undo import DEFAULT_BUDGET_BYTES, EditRecorder, UndoStack


def _stroke(document, brush, points):
    document.begin_stroke(brush, points[0])
    for point in points[1:]:
        document.continue_stroke(point)
    return document.end_stroke()


def test_undo_and_redo_restore_the_exact_arrays_of_strokes_and_operations():
    document = MaskDocument(300, 500)
    states = [document.mask.copy()]
    _stroke(document, Brush(size=30, hardness=0.3), [(10.0, 10.0), (200.0, 150.0), (480.0, 20.0)])
    states.append(document.mask.copy())
    document.grow(7)
    states.append(document.mask.copy())
    _stroke(document, Brush(size=12, erase=True), [(0.0, 0.0), (499.0, 299.0)])
    states.append(document.mask.copy())
    document.invert()
    states.append(document.mask.copy())

    for expected in reversed(states[:-1]):
        document.undo()
        np.testing.assert_array_equal(document.mask, expected)
    assert not document.history.can_undo()
    for expected in states[1:]:
        document.redo()
        np.testing.assert_array_equal(document.mask, expected)
    assert not document.history.can_redo()


def test_a_new_edit_after_undo_drops_the_redo_branch():
    document = MaskDocument(50, 50)
    _stroke(document, Brush(size=10), [(10.0, 10.0)])
    document.undo()
    document.fill()
    assert not document.history.can_redo()
    document.undo()
    assert not document.mask.any()


def test_a_stroke_that_changes_nothing_is_not_an_undo_step():
    document = MaskDocument(50, 50)
    assert not _stroke(document, Brush(size=10, erase=True), [(10.0, 10.0), (40.0, 40.0)])
    assert document.clear() is None
    assert not document.history.can_undo()


def test_200_long_strokes_on_a_4096_mask_stay_far_under_300_mb():
    # Measure three real strokes corner to corner on a full-size mask and extrapolate to 200.
    document = MaskDocument(4096, 4096)
    for i in range(3):
        y = 300.0 + 1500.0 * i
        points = [(float(x), y + 800.0 * np.sin(x / 500.0)) for x in range(0, 4097, 16)]
        _stroke(document, Brush(size=120, hardness=0.5), points)
    per_stroke = document.history.nbytes / 3
    assert 200 * per_stroke < 100e6  # a third of the limit (the raw changed tiles: 430 MB)
    assert DEFAULT_BUDGET_BYTES < 300e6  # and whatever the strokes, the budget caps the history


def test_the_history_never_holds_more_than_its_byte_budget():
    mask = np.zeros((512, 512), np.uint8)
    history = UndoStack(budget_bytes=2_000_000)
    rng = np.random.default_rng(1)
    for _ in range(12):  # noise does not compress: each edit costs ~260 kB
        recorder = EditRecorder(mask)
        recorder.touch((0, 0, 512, 512))
        mask[...] = rng.integers(0, 256, mask.shape, dtype=np.uint8)
        history.push(recorder.finish("noise"))
    assert history.nbytes <= 2_000_000
    undone = 0
    while history.undo(mask) is not None:
        undone += 1
    assert 4 <= undone < 12  # the newest edits are kept, the oldest forgotten
