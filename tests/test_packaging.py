"""The installed package is complete: every sub-package is listed, and resources/ ships inside it."""

import re
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


def _requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _all_requirements() -> list[str]:
    project = _pyproject()["project"]
    return [
        *project["dependencies"],
        *(r for extra in project["optional-dependencies"].values() for r in extra),
    ]


def _pinned_versions() -> dict[str, str]:
    lines = (ROOT / ".ci" / "constraints.txt").read_text(encoding="utf-8").splitlines()
    pins = [line.split("==") for line in lines if line.strip() and not line.startswith("#")]
    assert all(len(pin) == 2 for pin in pins), "every constraint is an exact name==version pin"
    return {name.lower().replace("_", "-"): version for name, version in pins}


def test_every_dependency_has_an_upper_bound_so_a_new_release_cannot_break_an_install():
    unbounded = [r for r in _all_requirements() if "<" not in r and "==" not in r]
    assert unbounded == []


def test_the_constraints_file_pins_every_dependency_within_its_bounds():
    pins = _pinned_versions()
    for requirement in _all_requirements():
        name = _requirement_name(requirement)
        assert name in pins, f"{name} is not pinned in .ci/constraints.txt"
        upper = re.search(r"<([\d.]+)", requirement)
        if upper:
            assert _version(pins[name]) < _version(upper.group(1)), (
                f"{name}=={pins[name]} breaks {requirement}"
            )


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def test_the_readme_installs_the_tested_set_and_the_cpu_torch_first():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = readme[readme.index("## Quick start") : readme.index("## What it does")]
    install_lines = [line for line in quick_start.splitlines() if line.startswith("pip install")]
    assert install_lines[0].startswith(f"pip install torch=={_pinned_versions()['torch']} --index-url")
    assert install_lines[0].endswith("/whl/cpu")
    app, tests = install_lines[1:]
    assert "-c .ci/constraints.txt" in app and "ldm-studio" in app
    assert "-c .ci/constraints.txt" in tests and "pytest" in tests
