"""Undo/redo for the mask that stores only what changed. Qt-free.

An edit (one stroke or one operation) is kept as compressed per-tile differences `after - before`
(uint8, wrapping), for the 256x256 tiles it touched and actually changed. Undo subtracts them and redo
adds them back, so both restore the exact arrays from a single stored difference. A difference is
mostly zeros with a constant blob, which zlib shrinks a hundredfold: a long stroke across a 4096²
mask costs tens of kilobytes. The stack also keeps a hard byte budget and forgets the oldest edits
beyond it, so no sequence of edits can exhaust memory.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from ldm_studio.gui.mask import rect as mask_rect
from ldm_studio.gui.mask.rect import Rect

TILE = 256
DEFAULT_BUDGET_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class TileDiff:
    rect: Rect
    packed: bytes  # zlib of the uint8 difference after - before, row-major over `rect`

    def unpack(self) -> np.ndarray:
        left, top, right, bottom = self.rect
        flat = np.frombuffer(zlib.decompress(self.packed), dtype=np.uint8)
        return flat.reshape(bottom - top, right - left)


@dataclass(frozen=True)
class MaskEdit:
    label: str  # what the user did, e.g. "Brush stroke", "Invert mask"
    tiles: tuple[TileDiff, ...]

    @property
    def nbytes(self) -> int:
        # The Python objects around the bytes cost about 100 bytes a tile; count them too.
        return sum(len(t.packed) + 100 for t in self.tiles) + 100

    @property
    def bounds(self) -> Rect | None:
        result: Rect | None = None
        for tile in self.tiles:
            result = mask_rect.union(result, tile.rect)
        return result


def tiles_touching(rect: Rect, width: int, height: int) -> list[Rect]:
    """The tile rectangles (clipped to the image) that overlap `rect`."""
    clipped = mask_rect.clip(rect, width, height)
    if clipped is None:
        return []
    left, top, right, bottom = clipped
    return [
        (tx, ty, min(tx + TILE, width), min(ty + TILE, height))
        for ty in range(top // TILE * TILE, bottom, TILE)
        for tx in range(left // TILE * TILE, right, TILE)
    ]


class EditRecorder:
    """Collects the 'before' pixels of each tile the first time an edit is about to touch it."""

    def __init__(self, mask: np.ndarray) -> None:
        self._mask = mask
        self._before: dict[Rect, np.ndarray] = {}

    def touch(self, rect: Rect) -> None:
        height, width = self._mask.shape
        for tile in tiles_touching(rect, width, height):
            if tile not in self._before:
                self._before[tile] = self._mask[mask_rect.slices(tile)].copy()

    def finish(self, label: str) -> MaskEdit | None:
        """The edit made since the recorder was created, or None if no pixel changed."""
        diffs = []
        for tile, before in self._before.items():
            diff = self._mask[mask_rect.slices(tile)] - before  # uint8 arithmetic wraps: exact inverse
            if diff.any():
                diffs.append(TileDiff(tile, zlib.compress(diff.tobytes(), 1)))
        self._before.clear()
        return MaskEdit(label, tuple(diffs)) if diffs else None


def apply_edit(mask: np.ndarray, edit: MaskEdit, *, reverse: bool) -> Rect | None:
    """Redo (`reverse=False`) or undo (`reverse=True`) `edit` on `mask` in place."""
    for tile in edit.tiles:
        region = mask[mask_rect.slices(tile.rect)]
        if reverse:
            np.subtract(region, tile.unpack(), out=region)
        else:
            np.add(region, tile.unpack(), out=region)
    return edit.bounds


class UndoStack:
    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self.budget_bytes = budget_bytes
        self._done: list[MaskEdit] = []
        self._undone: list[MaskEdit] = []

    @property
    def nbytes(self) -> int:
        return sum(e.nbytes for e in self._done) + sum(e.nbytes for e in self._undone)

    def can_undo(self) -> bool:
        return bool(self._done)

    def can_redo(self) -> bool:
        return bool(self._undone)

    def undo_label(self) -> str | None:
        return self._done[-1].label if self._done else None

    def redo_label(self) -> str | None:
        return self._undone[-1].label if self._undone else None

    def push(self, edit: MaskEdit) -> None:
        """Record a new edit; anything undone before it can no longer be redone."""
        self._undone.clear()
        self._done.append(edit)
        while self.nbytes > self.budget_bytes and len(self._done) > 1:
            self._done.pop(0)  # forget the oldest first
        if self.nbytes > self.budget_bytes:
            self._done.clear()  # a single edit above the budget cannot be kept at all

    def undo(self, mask: np.ndarray) -> Rect | None:
        if not self._done:
            return None
        edit = self._done.pop()
        self._undone.append(edit)
        return apply_edit(mask, edit, reverse=True)

    def redo(self, mask: np.ndarray) -> Rect | None:
        if not self._undone:
            return None
        edit = self._undone.pop()
        self._done.append(edit)
        return apply_edit(mask, edit, reverse=False)

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()
