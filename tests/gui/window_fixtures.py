"""Building the main window for tests: temporary settings and folders, the scripted engine, fake models.

Nothing here touches the real user's settings, models or pictures: QSettings is an INI file in the
test's temporary folder and QStandardPaths runs in test mode.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, PngImagePlugin
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, QStandardPaths, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget

from ldm_studio.engine.model_scan import ModelEntry
from ldm_studio.gui.main_window import MainWindow
from ldm_studio.gui.panels.model_list import ModelList
from ldm_studio.gui.settings import Settings
from tests.gui.fake_engine import ScriptedEngine

DEMO_MODES = ("txt2img", "img2img", "inpaint")


def fake_inspect(path: Path) -> ModelEntry:
    """A family by file name, so window tests need no real checkpoint."""
    if "broken" in path.name:
        return ModelEntry(path, problem=f"{path.name} is not a checkpoint")
    if "upscaler" in path.name:
        return ModelEntry(path, "demo-sr", "Demo upscaler", ("upscale",), (128, 128), default_noise_level=0)
    if "sdxl" in path.name:  # "sdxl-refiner…" is a refiner, "sdxl…" a base
        family = "sdxl-refiner" if "refiner" in path.name else "sdxl"
        return ModelEntry(path, family, "SDXL", ("txt2img", "img2img", "inpaint"), (1024, 1024), 5.0)
    if path.name.startswith("demo"):
        return ModelEntry(path, "demo-shapes", "Demo shapes", DEMO_MODES, (128, 128), default_cfg_scale=3.0)
    return ModelEntry(path, "sd1", "Stable Diffusion 1.x", (*DEMO_MODES, "upscale"), (512, 512), 7.0, 20)


def temporary_settings(folder: Path) -> Settings:
    QStandardPaths.setTestModeEnabled(True)
    settings = Settings(QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat))
    settings.models_folder = folder / "models"
    settings.outputs_folder = folder / "outputs"
    settings.data_folder = folder / "data"  # the history database and styles.csv
    settings.store.setValue("folders/cache", str(folder / "cache"))  # gallery thumbnails: this test's own
    settings.models_folder.mkdir(exist_ok=True)
    return settings


def make_window(
    qtbot, folder: Path, engine: ScriptedEngine, settings: Settings | None = None, demo_upscaler: bool = False
) -> MainWindow:
    settings = settings or temporary_settings(folder)
    bundled = folder / "bundled"
    bundled.mkdir(exist_ok=True)
    demos = [bundled / "demo-txt2img.safetensors"] + [bundled / "demo-upscaler.safetensors"] * demo_upscaler
    for demo in demos:
        demo.write_bytes(b"demo")
    models = ModelList(settings, inspect=fake_inspect, bundled_paths=lambda: demos)
    window = MainWindow(settings, engine=engine, models=models)
    qtbot.addWidget(window, before_close_func=lambda w: w.runner.shutdown())
    window.show()
    qtbot.waitUntil(lambda: not models.scanning and bool(models.entries), timeout=5000)
    return window


def drop_files(widget: QWidget, paths: list[Path]) -> bool:
    """Drag files onto a widget and drop them, as the desktop does; True if the drop was accepted."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    centre = widget.rect().center()
    actions = Qt.DropAction.CopyAction
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(QPoint(centre), actions, mime, buttons, modifiers)  # QPoint: PySide6 < 6.12 too
    QApplication.sendEvent(widget, enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(QPointF(centre), actions, mime, buttons, modifiers)
    QApplication.sendEvent(widget, drop)
    return drop.isAccepted()


def png_with_a1111_parameters(path: Path, text: str, size: tuple[int, int] = (64, 48)) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", text)
    Image.new("RGB", size, (10, 200, 30)).save(path, pnginfo=info)
    return path
