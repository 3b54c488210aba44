"""No network, proven: a full generation and the main window work with socket creation refused, and
importing ldm_studio switches the Hugging Face libraries offline before they are imported.

Every attempt is recorded as well as refused, so a library that catches the error and quietly falls
back still fails the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

# Both checks run in a fresh interpreter with the socket functions replaced before anything is imported:
# a library imported under the patch may keep the refusing function (`from socket import socket`), which
# would break later tests in a shared process; and main() quits its own event loop.
_REFUSE_SOCKETS = """
import socket
attempts = []
class RefusedSocket(socket.socket):  # a class still, since ssl and others subclass socket.socket
    def __init__(self, *args, **kwargs):
        attempts.append(repr(args))
        raise OSError("network access attempted in an offline app")
def refuse(*args, **kwargs):
    attempts.append(repr(args))
    raise OSError("network access attempted in an offline app")
socket.socket = RefusedSocket
for name in ("create_connection", "socketpair", "getaddrinfo", "gethostbyname"):
    setattr(socket, name, refuse)
"""

_GENERATION_SCRIPT = (
    _REFUSE_SOCKETS
    + """
import sys, threading
import numpy as np
from pathlib import Path
from ldm_studio.engine.checkpoints.loading import load_model
from ldm_studio.engine.pipelines.run import run
from ldm_studio.engine.requests import GenerationRequest, Result
from tests.checkpoints import write_tiny_checkpoint
# sd1: the CLIP tokenizer and text encoder go through transformers' from_pretrained code paths.
path = write_tiny_checkpoint(Path(sys.argv[1]) / "tiny-sd1.safetensors", "sd1")
model = load_model(path, device="cpu")
request = GenerationRequest(prompt="a red circle", steps=2, seed=3, width=64, height=64)
events = list(run(model, request, threading.Event()))
[result] = [e for e in events if isinstance(e, Result)]
print(np.asarray(result.images[0]).shape, len(attempts))
"""
)


def _offline_env(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path),
                XDG_DATA_HOME=str(tmp_path / "data"))  # fmt: skip


def test_a_full_generation_with_socket_creation_blocked(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", _GENERATION_SCRIPT, str(tmp_path)],
        capture_output=True, text=True, env=_offline_env(tmp_path), cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "(64, 64, 3) 0"  # an image, and no socket attempt


_WINDOW_SCRIPT = (
    _REFUSE_SOCKETS
    + """
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from ldm_studio.gui.app import main
from ldm_studio.gui.main_window import MainWindow
app = QApplication(["ldm-studio"])  # main() reuses it; the timer below needs it to exist first
shown = []
def close_when_scanned():
    windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
    if windows and not windows[0].models.scanning:  # the models folder and bundled models were inspected
        shown.extend(windows)
        for window in windows:
            window.close()
        QApplication.instance().quit()
    else:
        QTimer.singleShot(100, close_when_scanned)
QTimer.singleShot(300, close_when_scanned)
code = main([])
print(code, len(shown), len(attempts))
"""
)


def test_the_main_window_starts_with_socket_creation_blocked(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", _WINDOW_SCRIPT],
        capture_output=True, text=True, env=_offline_env(tmp_path), cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-3:] == ["0", "1", "0"]  # exit code 0, one window shown, no socket attempt


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
