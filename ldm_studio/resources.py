"""Where the bundled resources/ folder is, in a source checkout and in a PyInstaller build."""

from __future__ import annotations

import sys
from pathlib import Path


def resource_path(*parts: str) -> Path:
    """Path of a file or folder under resources/ (it may not exist; callers say what is missing)."""
    # A frozen PyInstaller app unpacks its data next to the code under sys._MEIPASS.
    frozen_root = getattr(sys, "_MEIPASS", None)
    root = Path(frozen_root) if frozen_root else Path(__file__).resolve().parent.parent
    return root.joinpath("resources", *parts)
