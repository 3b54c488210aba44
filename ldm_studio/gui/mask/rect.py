"""Pixel rectangles on the mask: (left, top, right, bottom), right/bottom exclusive.

The same convention as `Preview.box` in the engine, so a dirty region, an undo tile and a preview box
are all the same kind of value. Qt-free.
"""

from __future__ import annotations

import math

Rect = tuple[int, int, int, int]


def is_empty(rect: Rect) -> bool:
    left, top, right, bottom = rect
    return right <= left or bottom <= top


def union(a: Rect | None, b: Rect | None) -> Rect | None:
    """The smallest rectangle holding both; None stands for 'nothing'."""
    if a is None:
        return b
    if b is None:
        return a
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def clip(rect: Rect, width: int, height: int) -> Rect | None:
    """The part of `rect` inside a width x height image, or None when nothing is left."""
    clipped = (max(rect[0], 0), max(rect[1], 0), min(rect[2], width), min(rect[3], height))
    return None if is_empty(clipped) else clipped


def expand(rect: Rect, by: int) -> Rect:
    return (rect[0] - by, rect[1] - by, rect[2] + by, rect[3] + by)


def around(xs: tuple[float, ...], ys: tuple[float, ...], radius: float) -> Rect:
    """The pixels a shape of the given points, thickened by `radius`, can touch (conservative)."""
    return (
        math.floor(min(xs) - radius) - 1,
        math.floor(min(ys) - radius) - 1,
        math.ceil(max(xs) + radius) + 1,
        math.ceil(max(ys) + radius) + 1,
    )


def slices(rect: Rect) -> tuple[slice, slice]:
    """numpy index for `array[rows, cols]`."""
    return slice(rect[1], rect[3]), slice(rect[0], rect[2])
