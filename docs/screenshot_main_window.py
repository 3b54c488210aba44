"""Take the README screenshot: the real window, after a generation, on a real X server.

    xvfb-run -s "-screen 0 1600x1000x24" python docs/screenshot_main_window.py [--model FILE] [--out PNG]

Settings, models and outputs live in a temporary folder, so the user's own are never touched. With no
--model the bundled demo model is used, as on a first run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths, QTimer
from PySide6.QtWidgets import QApplication

from ldm_studio.gui.main_window import MainWindow
from ldm_studio.gui.settings import Settings

PROMPT = "a red circle on a blue background"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="", help="checkpoint to use (default: the bundled demo model)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("main_window.png")))
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args(argv)

    app = QApplication([sys.argv[0]])
    QStandardPaths.setTestModeEnabled(True)
    folder = Path(tempfile.mkdtemp(prefix="ldm-screenshot-"))
    settings = Settings(QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat))
    settings.models_folder = Path(args.model).parent if args.model else folder / "models"
    settings.outputs_folder = folder / "outputs"
    settings.models_folder.mkdir(parents=True, exist_ok=True)
    window = MainWindow(settings)
    window.resize(1500, 920)
    window.show()
    window.document.update({"model": args.model, "prompt": PROMPT, "steps": args.steps, "device": "cpu"})

    def shoot() -> None:
        if window.runner.busy:
            QTimer.singleShot(200, shoot)
            return
        window.grab().save(args.out)
        print(f"saved {args.out}; notice: {window.notice.text or '-'}")
        window.close()
        app.quit()

    def generate() -> None:
        window.generate()
        QTimer.singleShot(500, shoot)

    QTimer.singleShot(1500, generate)  # let the models panel finish its scan first
    return app.exec()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
