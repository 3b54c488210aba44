"""The PyInstaller app: build.spec builds dist/ldm-studio/ from scratch, and the frozen program runs its
self-test, opens its window, and names the missing file when its resources are damaged.

Minutes, not seconds: deselect locally with `-m "not build"`. It builds into a temporary folder with
nothing reused from an earlier run. While the trained demo models are not in resources/models yet, it
bundles tiny stand-ins from tests/checkpoints.py (in a temporary copy of resources/, never in the tree).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ldm_studio import __version__
from ldm_studio.self_test import REQUIRED_RESOURCES

pytestmark = pytest.mark.build

ROOT = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT_S = 1200  # about 4 minutes on 2 busy cores; generous for slower CI machines
RUN_TIMEOUT_S = 300


def _resources_for_build(folder: Path) -> Path:
    resources = ROOT / "resources"
    if all((resources / "models" / name).is_file() for _, name in REQUIRED_RESOURCES if _ == "models"):
        return resources
    from tests.checkpoints import write_tiny_checkpoint

    stand_in = folder / "resources"
    shutil.copytree(resources, stand_in)
    (stand_in / "models").mkdir(exist_ok=True)
    write_tiny_checkpoint(stand_in / "models" / "demo-txt2img.safetensors", "demo")
    write_tiny_checkpoint(stand_in / "models" / "demo-upscaler.safetensors", "sd-x4-upscaler")
    return stand_in


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Path:
    """Build the one-folder app; return the path of its executable."""
    folder = tmp_path_factory.mktemp("pyinstaller")
    env = {**os.environ, "LDM_STUDIO_RESOURCES": str(_resources_for_build(folder))}
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
               "--distpath", str(folder / "dist"), "--workpath", str(folder / "work"),
               str(ROOT / "build.spec")]  # fmt: skip
    start = time.monotonic()
    done = subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S
    )
    assert done.returncode == 0, done.stderr[-5000:]
    app_dir = folder / "dist" / "ldm-studio"
    size_mb = sum(f.stat().st_size for f in app_dir.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20
    print(f"\nPyInstaller build: {time.monotonic() - start:.0f} s, dist/ldm-studio/ {size_mb:.0f} MiB")
    return app_dir / ("ldm-studio.exe" if sys.platform == "win32" else "ldm-studio")


def _bundled_resources(app: Path) -> Path:
    return app.parent / "_internal" / "resources"


def _user_dirs(folder: Path) -> dict[str, str]:
    """Environment that keeps the frozen app's settings and folders out of the real user's home."""
    return {"HOME": str(folder), "XDG_CONFIG_HOME": str(folder / "config"),
            "XDG_DATA_HOME": str(folder / "data"), "XDG_CACHE_HOME": str(folder / "cache"),
            "QT_QPA_PLATFORM": "offscreen"}  # fmt: skip


def _run(app: Path, *args: str, folder: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, **_user_dirs(folder)}
    return subprocess.run([str(app), *args], capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT_S)


def test_the_bundle_contains_the_resources_and_the_qt_plugins_and_leaves_out_unused_packages(app):
    internal = app.parent / "_internal"
    for parts in REQUIRED_RESOURCES:
        assert (internal / "resources").joinpath(*parts).is_file()
    plugins = internal / "PySide6" / "Qt" / "plugins"
    if sys.platform.startswith("linux"):
        assert {"libqoffscreen.so", "libqxcb.so"} <= {p.name for p in (plugins / "platforms").iterdir()}
    assert any((plugins / "imageformats").iterdir())
    for unused in ("tests", "diffusers", "matplotlib", "scipy", "tkinter", "IPython", "torch/test"):
        assert not (internal / unused).exists(), f"{unused} is bundled"
    assert not list((internal / "ldm_studio").glob("training*"))


def test_frozen_version(app, tmp_path):
    done = _run(app, "--version", folder=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"ldm-studio {__version__}"


def test_frozen_self_test_passes_and_prints_one_line(app, tmp_path):
    done = _run(app, "--self-test", folder=tmp_path)
    print(done.stdout)
    assert done.returncode == 0, done.stderr[-5000:]
    assert done.stdout.startswith("self-test passed: txt2img"), done.stdout
    assert "Traceback" not in done.stderr and "Warning" not in done.stderr, done.stderr[-5000:]


def test_frozen_window_opens_and_inspects_the_bundled_model(app, tmp_path):
    from PySide6.QtCore import QSettings

    from ldm_studio.gui.settings import Settings

    env = {**os.environ, **_user_dirs(tmp_path)}
    conf = tmp_path / "config" / "ldm_studio" / "ldm_studio.conf"
    demo = _bundled_resources(app) / "models" / "demo-txt2img.safetensors"

    def demo_model_hashed() -> bool:  # the models panel hashes the bundled model and remembers it
        return conf.is_file() and Settings(QSettings(str(conf), QSettings.Format.IniFormat)).model_hash(demo)

    with subprocess.Popen(
        [str(app)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while proc.poll() is None and time.monotonic() < deadline and not demo_model_hashed():
            time.sleep(0.5)
        still_running = proc.poll() is None
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert still_running, stderr[-5000:]
    assert demo_model_hashed(), "the window did not get as far as listing the bundled demo model"
    assert "Traceback" not in stderr, stderr[-5000:]


@pytest.mark.parametrize("missing", ["models/demo-upscaler.safetensors", "tokenizer/vocab.json"])
@pytest.mark.parametrize("command", [["--self-test"], []], ids=["self-test", "window"])
def test_frozen_app_with_a_missing_resource_names_it_and_exits_non_zero(app, tmp_path, missing, command):
    path = _bundled_resources(app) / missing
    hidden = path.with_name(path.name + ".hidden")
    path.rename(hidden)
    try:
        done = _run(app, *command, folder=tmp_path)
    finally:
        hidden.rename(path)
    assert done.returncode != 0
    assert Path(missing).name in done.stderr, done.stderr[-5000:]
    assert "Traceback" not in done.stderr, done.stderr[-5000:]


def test_frozen_app_with_no_resources_folder_names_a_missing_file(app, tmp_path):
    resources = _bundled_resources(app)
    moved = resources.with_name("resources.moved")
    resources.rename(moved)
    try:
        done = _run(app, folder=tmp_path)
    finally:
        moved.rename(resources)
    assert done.returncode != 0
    assert "vocab.json" in done.stderr and "missing" in done.stderr, done.stderr[-5000:]
    assert "Traceback" not in done.stderr
