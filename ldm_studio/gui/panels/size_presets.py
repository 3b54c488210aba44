"""Image sizes that suit a model: the size it was trained at first, then portrait and landscape of it.

SDXL models were trained on a fixed list of aspect-ratio buckets of about 1024² pixels each (the SDXL
paper's multi-aspect training); those buckets are offered as they are instead of derived sizes.
"""

from __future__ import annotations

Size = tuple[int, int]

SD_DEFAULT: Size = (512, 512)  # when the model's family is not known yet
_ASPECTS = ((1, 1), (2, 3), (3, 2), (3, 4), (4, 3))  # width : height
_SDXL_LANDSCAPE: tuple[Size, ...] = ((1152, 896), (1216, 832), (1344, 768), (1536, 640))
SDXL_BUCKETS: tuple[Size, ...] = ((1024, 1024), *(s for w, h in _SDXL_LANDSCAPE for s in ((w, h), (h, w))))
FAR_BELOW = 0.5  # a size with less than this share of the trained pixel count gets a note


def _round(value: float, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)


def is_sdxl(family: str | None) -> bool:
    return bool(family) and family.startswith("sdxl")


def size_presets(default_size: Size | None, family: str | None = None) -> list[Size]:
    """(width, height) choices of about the trained area, in common aspect ratios (SDXL: its buckets)."""
    if is_sdxl(family):
        return list(SDXL_BUCKETS)
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


def small_size_note(size: Size, trained: Size | None) -> str:
    """A warning when `size` has far fewer pixels than the model was trained at ("" when it is fine)."""
    if not trained:
        return ""
    pixels, trained_pixels = size[0] * size[1], trained[0] * trained[1]
    if pixels >= FAR_BELOW * trained_pixels:
        return ""
    return (
        f"{size[0]} × {size[1]} is far below this model's own {trained[0]} × {trained[1]}:"
        " expect broken or repeated shapes. Choose a preset near its size."
    )
