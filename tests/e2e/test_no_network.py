"""No network, proven: a full generation and the main window work with socket creation refused, and
importing ldm_studio switches the Hugging Face libraries offline before they are imported.

Every attempt is recorded as well as refused, so a library that catches the error and quietly falls
back still fails the test.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, QStandardPaths, QTimer
from PySide6.QtWidgets import QApplication

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_sockets(monkeypatch) -> list[str]:
    attempts: list[str] = []

    def refuse(*args, **kwargs):
        attempts.append(f"{args!r} {kwargs!r}")
        raise OSError("network access attempted in an offline app")

    for name in ("socket", "create_connection", "socketpair", "getaddrinfo", "gethostbyname"):
        monkeypatch.setattr(socket, name, refuse)
    return attempts


def test_a_full_generation_with_socket_creation_blocked(tmp_path, no_sockets):
    from ldm_studio.engine.checkpoint import load_model
    from ldm_studio.engine.pipeline import run
    from ldm_studio.engine.requests import GenerationRequest, Result
    from tests.checkpoints import write_tiny_checkpoint

    # sd1: the CLIP tokenizer and text encoder go through transformers' from_pretrained code paths.
    path = write_tiny_checkpoint(tmp_path / "tiny-sd1.safetensors", "sd1")
    model = load_model(path, device="cpu")
    request = GenerationRequest(prompt="a red circle", steps=2, seed=3, width=64, height=64)
    events = list(run(model, request, threading.Event()))

    [result] = [e for e in events if isinstance(e, Result)]
    assert np.asarray(result.images[0]).shape == (64, 64, 3)
    assert no_sockets == []


def test_the_main_window_starts_with_socket_creation_blocked(qtbot, tmp_path, monkeypatch, no_sockets):
    from ldm_studio.gui.app import main
    from ldm_studio.gui.main_window import MainWindow

    QStandardPaths.setTestModeEnabled(True)
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.NativeFormat, scope, str(tmp_path))
    shown: list[MainWindow] = []

    def close_when_scanned() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if windows and not windows[0].models.scanning:  # the models folder and bundled models are inspected
            shown.extend(windows)
            for window in windows:
                window.close()
            QApplication.instance().quit()
        else:
            QTimer.singleShot(100, close_when_scanned)

    QTimer.singleShot(300, close_when_scanned)
    assert main([]) == 0
    assert len(shown) == 1
    assert no_sockets == []


def test_importing_ldm_studio_sets_the_offline_switches_before_transformers_is_imported():
    code = (
        "import sys\n"
        "import ldm_studio\n"
        "assert 'transformers' not in sys.modules and 'huggingface_hub' not in sys.modules\n"
        "import os\n"
        "print(os.environ['HF_HUB_OFFLINE'], os.environ['TRANSFORMERS_OFFLINE'])\n"
        "import transformers, huggingface_hub.constants as hub\n"
        "print(hub.HF_HUB_OFFLINE, hub.is_offline_mode())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1", "True", "True"]
