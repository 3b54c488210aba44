"""`ldm-studio` with no command opens the window and exits cleanly when it is closed."""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings, QStandardPaths, QTimer
from PySide6.QtWidgets import QApplication

from ldm_studio.gui.app import main
from ldm_studio.gui.main_window import MainWindow


def test_main_opens_the_window_offline_and_returns_0_when_closed(qtbot, tmp_path, monkeypatch):
    # Keep the real user's settings and folders out of it.
    QStandardPaths.setTestModeEnabled(True)
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.NativeFormat, scope, str(tmp_path))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    seen: list[str] = []

    def close_the_window() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        seen.extend(w.windowTitle() for w in windows)
        for window in windows:
            window.close()
        QApplication.instance().quit()

    QTimer.singleShot(500, close_the_window)
    assert main([]) == 0
    assert seen == ["ldm_studio"]
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert (tmp_path / "ldm_studio" / "ldm_studio.conf").exists()  # the session was saved, here
