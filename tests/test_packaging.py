"""The installed package is complete: every sub-package is listed, and resources/ ships inside it."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_python_package_under_ldm_studio_is_listed_for_installation():
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "ldm_studio").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def test_resources_are_mapped_into_the_package():
    setuptools = _pyproject()["tool"]["setuptools"]
    assert setuptools["package-dir"]["ldm_studio._resources"] == "resources"
    assert "ldm_studio._resources" in setuptools["packages"]
    assert (ROOT / "resources" / "tokenizer" / "vocab.json").is_file()
