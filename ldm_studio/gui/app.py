"""Starts the Qt application and the main window."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

WARM_UP_DELAY_MS = 300


def main(argv: Sequence[str] = ()) -> int:
    # Before transformers can be imported by a model load: this app never reaches a model hub.
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ.setdefault(name, "1")
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from ldm_studio.gui.main_window import MainWindow
    from ldm_studio.gui.settings import APP_NAME, ORGANIZATION, Settings

    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    # QStandardPaths: ~/.local/share/ldm_studio (no organization level, which would double the name);
    # the settings file names both explicitly: ~/.config/ldm_studio/ldm_studio.conf.
    app.setApplicationName(APP_NAME)
    window = MainWindow(Settings(QSettings(ORGANIZATION, APP_NAME)))
    window.show()
    # Once the window has painted, the worker imports the engine while the user writes a prompt.
    QTimer.singleShot(WARM_UP_DELAY_MS, window.runner.warm_up)
    return app.exec()
