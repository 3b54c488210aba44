"""Starts the Qt application and the main window."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] = ()) -> int:
    from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    window = QMainWindow()
    window.setWindowTitle("ldm_studio")
    window.setCentralWidget(QLabel("ldm_studio"))
    window.resize(1280, 800)
    window.show()
    return app.exec()
