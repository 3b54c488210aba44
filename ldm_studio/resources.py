"""Where the bundled resources/ folder is: source checkout, installed wheel, or PyInstaller build."""

from __future__ import annotations

import sys
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def resources_root() -> Path:
    # A frozen PyInstaller app unpacks its data next to the code under sys._MEIPASS.
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "resources"
    # A wheel install carries resources/ inside the package (see [tool.setuptools.package-dir]).
    installed = _PACKAGE_DIR / "_resources"
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / "resources"  # a source checkout or an editable install


def resource_path(*parts: str) -> Path:
    """Path of a file or folder under resources/ (it may not exist; callers say what is missing)."""
    return resources_root().joinpath(*parts)
