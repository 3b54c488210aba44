"""Image sizes that suit a model: the size it was trained at first, then portrait and landscape of it."""

from __future__ import annotations

Size = tuple[int, int]

SD_DEFAULT: Size = (512, 512)  # when the model's family is not known yet
_ASPECTS = ((1, 1), (2, 3), (3, 2), (3, 4), (4, 3))  # width : height


def _round(value: float, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)


def size_presets(default_size: Size | None) -> list[Size]:
    """(width, height) choices of about the trained area, in common aspect ratios."""
    width, height = default_size or SD_DEFAULT
    area = width * height
    multiple = 64 if min(width, height) >= 256 else 8  # latent models like multiples of 64 at full size
    presets: list[Size] = [(width, height)]
    for w_ratio, h_ratio in _ASPECTS[1:]:
        side = (area / (w_ratio * h_ratio)) ** 0.5
        size = (_round(side * w_ratio, multiple), _round(side * h_ratio, multiple))
        if size not in presets:
            presets.append(size)
    return presets
