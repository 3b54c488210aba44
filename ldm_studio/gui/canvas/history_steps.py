"""Results as undoable canvas steps: the image timeline that sits around the mask's own undo. Qt-free.

One Ctrl+Z order for the whole canvas. Each image on the canvas keeps its own mask history
(`MaskDocument.history`, stored compactly by mask/undo.py). Placing a new image (a result, a paste, a
dropped file) is a step: the image before it goes onto this timeline together with its whole mask
document, so coming back restores the image, its mask and the strokes that can still be undone on it.

Undo first undoes the current image's mask edits, newest first; when none are left it goes back to the
previous image (with its mask exactly as it was left), and further presses undo that image's strokes.
Redo walks the same line forward: the current image's undone strokes, then the next image. A new mask
edit, as anywhere, drops what could have been redone (the images ahead too).

Memory: a step holds the image (H·W·3 bytes, uncompressed so going back is instant), its mask (H·W)
and its compressed mask history. The timeline keeps at most `budget_bytes` (default 512 MiB: about ten
4096² steps, hundreds at 512²) and forgets the oldest steps behind first, then the farthest ahead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ldm_studio.gui.mask.document import MaskDocument

DEFAULT_STEPS_BUDGET_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class Snapshot:
    """One image on the timeline and its mask document; `label` names the step between it and its
    neighbour towards the current image ("Result", "Paste image", …)."""

    image: np.ndarray
    document: MaskDocument
    label: str = ""

    @property
    def nbytes(self) -> int:
        return int(self.image.nbytes + self.document.mask.nbytes + self.document.history.nbytes)


def new_step(image: np.ndarray, mask: np.ndarray | None = None) -> Snapshot:
    """A new image (copied, read-only) with a fresh mask document starting at `mask` (if its size fits)."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    image = np.array(image, copy=True)
    image.flags.writeable = False
    document = MaskDocument(*image.shape[:2])
    if mask is not None and mask.shape == image.shape[:2]:
        document.mask[...] = mask if mask.dtype == np.uint8 else (mask != 0) * np.uint8(255)
    return Snapshot(image, document)


class ImageSteps:
    def __init__(self, budget_bytes: int = DEFAULT_STEPS_BUDGET_BYTES) -> None:
        self.budget_bytes = budget_bytes
        self._back: list[Snapshot] = []  # oldest first
        self._forward: list[Snapshot] = []  # the next image last

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self._back) + sum(s.nbytes for s in self._forward)

    def can_undo(self) -> bool:
        return bool(self._back)

    def can_redo(self) -> bool:
        return bool(self._forward)

    def undo_label(self) -> str | None:
        return self._back[-1].label if self._back else None

    def redo_label(self) -> str | None:
        return self._forward[-1].label if self._forward else None

    def push(self, current: Snapshot, label: str) -> None:
        """The canvas is about to show a new image: `current` becomes the step behind it."""
        self._forward.clear()
        self._back.append(Snapshot(current.image, current.document, label))
        self._trim()

    def undo(self, current: Snapshot) -> Snapshot:
        """The image to show instead of `current`, which is kept to come back to."""
        previous = self._back.pop()
        self._forward.append(Snapshot(current.image, current.document, previous.label))
        return previous

    def redo(self, current: Snapshot) -> Snapshot:
        following = self._forward.pop()
        self._back.append(Snapshot(current.image, current.document, following.label))
        return following

    def drop_forward(self) -> None:
        """A new edit on the current image: the images ahead can no longer be reached."""
        self._forward.clear()

    def clear(self) -> None:
        self._back.clear()
        self._forward.clear()

    def _trim(self) -> None:
        while self._back and self.nbytes > self.budget_bytes:
            self._back.pop(0)
        while self._forward and self.nbytes > self.budget_bytes:
            self._forward.pop(0)
