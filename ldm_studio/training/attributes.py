"""A small deterministic checker that reads back what a generated image shows.

It names the background colour from the image border, the main object's colour from the pixels that
differ from the background, its rough shape from how much of its bounding box it fills
(circle ≈ π/4, square ≈ 1, triangle ≈ 1/2), and which of the nine positions its centre is nearest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ldm_studio.training.dataset import PALETTE, POSITIONS

BORDER = 3  # pixels of the frame read as background; the dataset keeps objects further in
_NAMES = list(PALETTE)
_COLOURS = np.array([PALETTE[n] for n in _NAMES], dtype=np.float32)
# Bounding-box fill ratios between the shapes' ideal values (0.5, 0.785, 1).
SQUARE_ABOVE = 0.9
TRIANGLE_BELOW = 0.69
MIN_OBJECT_FRACTION = 0.005  # fewer object pixels than this and the image shows no object


@dataclass(frozen=True)
class Attributes:
    background: str
    colour: str | None  # None when no object stands out from the background
    shape: str | None
    fill_ratio: float
    centre: tuple[float, float] | None  # centre of the object's bounding box, fractions of the side
    position: str | None


def nearest_colour_index(pixels: np.ndarray) -> np.ndarray:
    """For (..., 3) RGB values, the index into the palette of the nearest colour."""
    # |p - c|² = |p|² - 2 p·c + |c|²; |p|² is the same for every c, so it drops out of the argmin.
    scores = pixels.astype(np.float32) @ _COLOURS.T * -2.0 + (_COLOURS**2).sum(-1)
    return np.argmin(scores, axis=-1)


def _border(labels: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [
            labels[:BORDER].ravel(),
            labels[-BORDER:].ravel(),
            labels[:, :BORDER].ravel(),
            labels[:, -BORDER:].ravel(),
        ]
    )


def _object_mask(image: np.ndarray, colour: int, background: int) -> np.ndarray:
    # A pixel belongs to the object when it lies past the midpoint between the two palette colours,
    # so antialiased edges count by coverage and the fill ratio comes out unbiased.
    a, b = _COLOURS[background], _COLOURS[colour]
    along = ((image.astype(np.float32) - a) @ (b - a)) / float((b - a) @ (b - a))
    return along > 0.5


def _bounding_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    # Rows and columns holding under a tenth of the widest extent are speckle, not the object.
    rows, cols = mask.sum(1), mask.sum(0)
    r = np.nonzero(rows >= max(1, 0.1 * rows.max()))[0]
    c = np.nonzero(cols >= max(1, 0.1 * cols.max()))[0]
    return int(r[0]), int(r[-1]) + 1, int(c[0]), int(c[-1]) + 1


def shape_from_fill_ratio(ratio: float) -> str:
    if ratio >= SQUARE_ABOVE:
        return "square"
    return "circle" if ratio >= TRIANGLE_BELOW else "triangle"


def nearest_position(centre: tuple[float, float]) -> str:
    return min(
        POSITIONS, key=lambda p: (POSITIONS[p][0] - centre[0]) ** 2 + (POSITIONS[p][1] - centre[1]) ** 2
    )


def read_attributes(image: np.ndarray) -> Attributes:
    """What the (H, W, 3) uint8 image shows: background, object colour, shape and position."""
    labels = nearest_colour_index(image)
    background = int(np.bincount(_border(labels), minlength=len(_NAMES)).argmax())
    others = labels[labels != background]
    if others.size < MIN_OBJECT_FRACTION * labels.size:
        return Attributes(_NAMES[background], None, None, 0.0, None, None)
    colour = int(np.bincount(others, minlength=len(_NAMES)).argmax())
    mask = _object_mask(image, colour, background)
    top, bottom, left, right = _bounding_box(mask)
    inside = mask[top:bottom, left:right]
    ratio = float(inside.sum()) / inside.size
    h, w = mask.shape
    centre = ((left + right) / 2 / w, (top + bottom) / 2 / h)
    return Attributes(
        _NAMES[background],
        _NAMES[colour],
        shape_from_fill_ratio(ratio),
        ratio,
        centre,
        nearest_position(centre),
    )
