"""Image sizes that suit each model family: its training size first, then common aspect ratios of it."""

from __future__ import annotations

Size = tuple[int, int]

_SD_512: list[Size] = [(512, 512), (512, 768), (768, 512), (448, 640), (640, 448)]
_SD_768: list[Size] = [(768, 768), (768, 1024), (1024, 768), (640, 896), (896, 640)]
_DEMO: list[Size] = [(128, 128), (128, 192), (192, 128), (256, 256)]


def size_presets(family: str | None) -> list[Size]:
    """(width, height) choices for a family name from the checkpoint loader; SD 1.x sizes when unknown."""
    if not family:
        return list(_SD_512)
    if family.startswith("demo"):
        return list(_DEMO)
    if family == "sd2-v":
        return list(_SD_768)
    return list(_SD_512)
