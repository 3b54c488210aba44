"""`ldm-studio` with a damaged install names the missing bundled file and exits non-zero before any
window opens (the frozen app is checked the same way in tests/e2e/test_frozen_build.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import ldm_studio.gui.app
from ldm_studio import cli, self_test
from ldm_studio.resources import resource_path


@pytest.fixture
def resources(tmp_path, monkeypatch) -> Path:
    """A complete copy of the resources folder (demo models as small stand-in files), used by the check."""
    folder = tmp_path / "resources"
    shutil.copytree(resource_path("tokenizer"), folder / "tokenizer")
    (folder / "models").mkdir()
    for name in ("demo-txt2img.safetensors", "demo-upscaler.safetensors"):
        (folder / "models" / name).write_bytes(b"stand-in")
    monkeypatch.setattr(self_test, "resource_path", lambda *parts: folder.joinpath(*parts))
    return folder


@pytest.fixture
def window_started(monkeypatch) -> list[bool]:
    started: list[bool] = []
    monkeypatch.setattr(ldm_studio.gui.app, "main", lambda argv=(): started.append(True) or 0)
    return started


@pytest.mark.parametrize("missing", ["tokenizer/merges.txt", "models/demo-upscaler.safetensors"])
def test_a_missing_resource_is_named_and_no_window_opens(resources, window_started, capsys, missing):
    (resources / missing).unlink()
    assert cli.main([]) == cli.EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert Path(missing).name in err and "missing" in err and "Traceback" not in err
    assert window_started == []


def test_an_empty_model_file_counts_as_damaged(resources, window_started, capsys):
    (resources / "models" / "demo-txt2img.safetensors").write_bytes(b"")
    assert cli.main([]) == cli.EXIT_USER_ERROR
    assert "demo-txt2img.safetensors" in capsys.readouterr().err
    assert window_started == []


def test_complete_resources_open_the_window(resources, window_started):
    assert cli.main([]) == 0
    assert window_started == [True]
