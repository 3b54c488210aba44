"""The feathered mask ("what the model will actually use"), kept up to date region by region. Qt-free.

Recomputing grow + blur over a 4096² mask takes about a second, far too slow per brush segment.
Both are local operations: a change inside a rectangle moves the result at most `reach` pixels
beyond it, and that result depends only on the mask within `2 * reach` of the rectangle. So each
change is redone on that neighbourhood alone.
"""

from __future__ import annotations

import numpy as np

from ldm_studio.gui import mask_ops, mask_rect
from ldm_studio.gui.mask_rect import Rect


class FeatherPreview:
    def __init__(self, height: int, width: int) -> None:
        self.array = np.zeros((height, width), dtype=np.uint8)  # shared with the overlay: changed in place
        self.blur_px = 0.0
        self.grow_px = 0

    @property
    def reach(self) -> int:
        return mask_ops.feather_reach(self.blur_px, self.grow_px)

    def recompute(self, mask: np.ndarray, blur_px: float, grow_px: int) -> None:
        self.blur_px, self.grow_px = blur_px, grow_px
        self.array[...] = mask_ops.feathered(mask, blur_px, grow_px)

    def update(self, mask: np.ndarray, changed: Rect) -> Rect | None:
        """Bring the preview up to date after `mask` changed inside `changed`; returns what moved."""
        height, width = mask.shape
        reach = self.reach
        out = mask_rect.clip(mask_rect.expand(changed, reach), width, height)
        work = mask_rect.clip(mask_rect.expand(changed, 2 * reach + 1), width, height)
        if out is None or work is None:
            return None
        local = mask_ops.feathered(mask[mask_rect.slices(work)], self.blur_px, self.grow_px)
        inner = (out[0] - work[0], out[1] - work[1], out[2] - work[0], out[3] - work[1])
        self.array[mask_rect.slices(out)] = local[mask_rect.slices(inner)]
        return out
