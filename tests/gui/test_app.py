"""`ldm-studio` with no command opens the window and exits cleanly when it is closed.

Run in a fresh interpreter: `main` runs the application's own event loop to its end, which a shared
test process must not do, and its settings and folders go to temporary XDG locations.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import os
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from ldm_studio.gui.app import main
from ldm_studio.gui.main_window import MainWindow

app = QApplication([])
seen = []

def close_the_window():
    for window in QApplication.topLevelWidgets():
        if isinstance(window, MainWindow) and window.isVisible():
            seen.append(window.windowTitle())
            window.close()
    app.quit()

QTimer.singleShot(1000, close_the_window)
code = main([])
print(code, seen, os.environ["HF_HUB_OFFLINE"])
"""


def test_main_opens_the_window_offline_and_returns_0_when_closed(tmp_path):
    offline_switches = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")  # main must set them itself
    env = {key: value for key, value in os.environ.items() if key not in offline_switches}
    env.update(
        QT_QPA_PLATFORM="offscreen",
        HOME=str(tmp_path),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        PYTHONPATH=str(ROOT),
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "0 ['ldm_studio'] 1"
    assert (tmp_path / "config" / "ldm_studio" / "ldm_studio.conf").exists()  # the session was saved
    assert (tmp_path / "data" / "ldm_studio" / "models").is_dir()  # where to put checkpoints
