"""The scribble: a white-on-black line map the user draws for a ControlNet (scribble, lineart, or a
depth / canny map imported from a file). The colour sketch's layer (sketch_layer.py) with white paint:
stored premultiplied, so a white pixel of coverage c is (c, c, c, c), and the map a ControlNet sees
is its colour over black, i.e. the premultiplied RGB itself.
"""

from __future__ import annotations

import numpy as np

from ldm_studio.gui.canvas.sketch_layer import BGR, SketchLayer
from ldm_studio.gui.mask.rect import Rect

WHITE = (255, 255, 255)


class ScribbleLayer(SketchLayer):
    STROKE_LABEL, ERASER_LABEL, CLEAR_LABEL = (
        "Scribble stroke",
        "Scribble eraser",
        "Clear scribble",
    )  # undo names

    def control_pixels(self) -> np.ndarray | None:
        """The (H, W, 3) uint8 white-on-black map, or None when nothing is drawn."""
        if self.is_empty():
            return None
        assert self.pixels is not None
        return np.ascontiguousarray(self.pixels[..., BGR])  # premultiplied white over black = the map

    def set_map(self, grey: np.ndarray, label: str = "Import control image") -> Rect | None:
        """Make the layer an (H, W) uint8 grey map as one undo step: the grey level is the line's
        coverage, so control_pixels gives the map back exactly (a depth or canny map as the user made it)."""
        return self.replace_pixels(np.repeat(grey[..., None], 4, axis=2), label)
