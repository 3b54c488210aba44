"""The layer rules of DESIGN.md: the engine is Qt-free, the GUI never touches torch directly."""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import ldm_studio

PACKAGE_DIR = Path(ldm_studio.__file__).parent


def _engine_modules() -> list[str]:
    import ldm_studio.engine as engine

    return [m.name for m in pkgutil.walk_packages(engine.__path__, "ldm_studio.engine.")]


def test_importing_every_engine_module_does_not_import_qt():
    modules = _engine_modules()
    assert "ldm_studio.engine.requests" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6'))\n"
        "assert not bad, bad\n"
    )
    # A fresh interpreter: this test process may already have Qt loaded by pytest-qt.
    subprocess.run([sys.executable, "-c", code], check=True)


def _imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_gui_module_imports_torch():
    gui_files = sorted((PACKAGE_DIR / "gui").rglob("*.py"))
    assert gui_files
    offenders = [str(p) for p in gui_files if "torch" in _imported_top_levels(p)]
    assert offenders == []


def test_no_product_module_imports_diffusers():
    offenders = [str(p) for p in PACKAGE_DIR.rglob("*.py") if "diffusers" in _imported_top_levels(p)]
    assert offenders == []
