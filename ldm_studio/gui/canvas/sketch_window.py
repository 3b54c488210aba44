"""The colour sketch in the main window: tool bar, File ▸ Export sketch…, the request, the session.

`install_sketch(window) -> SketchTool` adds all of it; the window's Generate calls
`sketch_request(window, image, mask)` instead of `document.to_request(image, mask)`:
- Image→Image and Inpaint run on the image with the shown sketch composited over it;
- with "Inpaint sketch" on, the painted area (alpha > 0) is the mask (added to a painted mask; the
  engine feathers it by the mask blur, as any mask), and Image→Image becomes Inpaint. A model that
  cannot inpaint says so in one line; the sketch stays as it is.
The session: on closing, a non-empty sketch is kept with the working image under it (two PNGs in the
`session/` folder beside the settings file) and both come back at the next start.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QEvent, QObject, QSettings, QStandardPaths
from PySide6.QtWidgets import QFileDialog

from ldm_studio.engine import image_files
from ldm_studio.engine.errors import InputError
from ldm_studio.engine.requests import GenerationRequest
from ldm_studio.gui.canvas.sketch_bar import SketchToolbar
from ldm_studio.gui.canvas.sketch_tool import SketchTool
from ldm_studio.gui.canvas.toolbar import CanvasToolbar

SKETCH_FILE, IMAGE_FILE = "sketch.png", "image.png"
SKETCH_MODES = ("img2img", "inpaint")


def sketch_request(window, image: np.ndarray | None, mask: np.ndarray | None) -> GenerationRequest:
    """The window's request with the sketch applied (see the module docstring); raises InputError."""
    tool: SketchTool = window.sketch
    document = window.document
    if image is None or document.mode not in SKETCH_MODES or not tool.applies():
        return document.to_request(image, mask)
    image = tool.layer.composite(image)
    if not tool.inpaint_sketch:
        return document.to_request(image, mask)
    entry = window.models.entry_for(document.model)
    if entry is not None and entry.usable and entry.modes and "inpaint" not in entry.modes:
        raise InputError(
            f"{entry.name} cannot inpaint, so it cannot take the mask from the sketch: turn off "
            "Inpaint sketch (Image → Image still uses the sketch) or choose a model that can inpaint."
        )
    painted = tool.layer.painted_mask()
    mask = painted if mask is None or mask.shape != painted.shape else np.maximum(mask, painted)
    request = document.to_request(image, mask if document.mode == "inpaint" else None)
    return request if request.mode == "inpaint" else request.replace(mode="inpaint", mask=mask)


def export_sketch(tool: SketchTool, path: str | Path) -> str | None:
    """Save the sketch as a PNG with alpha; returns why not (one line), or None when saved."""
    if tool.layer.is_empty():
        return "There is no sketch to export: paint on the image with the Sketch tool first"
    try:
        image_files.write_mask_png(path, tool.layer.to_rgba(), overwrite=True)  # any uint8 array
    except image_files.ImageFileError as error:
        return str(error)
    return None


def session_folder(store: QSettings) -> Path:
    """Beside an INI settings file (tests: their temporary folder), else the app's data folder."""
    if store.format() == QSettings.Format.IniFormat and store.fileName():
        return Path(store.fileName()).parent / "session"
    data = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    return Path(data or Path.home() / ".ldm_studio") / "session"


def save_session(tool: SketchTool, folder: Path) -> None:
    """Keep a non-empty sketch and its image; an empty one removes what an earlier session kept."""
    image = tool.canvas.image()
    with contextlib.suppress(OSError, image_files.ImageFileError):  # closing must never fail
        if image is None or tool.layer.is_empty():
            for name in (SKETCH_FILE, IMAGE_FILE):
                (folder / name).unlink(missing_ok=True)
            return
        folder.mkdir(parents=True, exist_ok=True)
        image_files.write_mask_png(folder / IMAGE_FILE, image, overwrite=True)
        image_files.write_mask_png(folder / SKETCH_FILE, tool.layer.to_rgba(), overwrite=True)


def restore_session(tool: SketchTool, folder: Path) -> bool:
    """Bring back the sketch and image a previous session kept; a damaged pair is ignored."""
    if not (folder / SKETCH_FILE).is_file() or not (folder / IMAGE_FILE).is_file():
        return False
    try:
        image = image_files.load_image(folder / IMAGE_FILE)
        with Image.open(folder / SKETCH_FILE) as stored:
            rgba = np.asarray(stored.convert("RGBA"))
    except (OSError, ValueError, image_files.ImageFileError):
        return False
    if rgba.shape[:2] != image.shape[:2]:
        return False
    tool.canvas.set_image(image)
    tool.layer.set_rgba(rgba)
    tool.layer.history.clear()  # the restored sketch is where the history starts
    tool.set_visible(True)
    tool.canvas.update()
    tool.historyChanged.emit()
    return True


class _CloseWatcher(QObject):
    def __init__(self, window, folder: Path) -> None:
        super().__init__(window)
        self._folder = folder
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close:
            save_session(watched.sketch, self._folder)
        return False


def install_sketch(window) -> SketchTool:
    """Add the sketch to a MainWindow: tool, tool bar, Export sketch…, session keeping."""
    tool = SketchTool(window.canvas)
    window.sketch = tool
    window.sketch_toolbar = SketchToolbar(tool, window)
    window.addToolBar(window.sketch_toolbar)
    # Choosing a mask tool gives the canvas back to the mask.
    mask_bar = window.findChild(CanvasToolbar)
    for action in (mask_bar.brush_action, mask_bar.eraser_action) if mask_bar is not None else ():
        action.triggered.connect(lambda: tool.set_tool(""))

    def export_dialog() -> None:
        path, _ = QFileDialog.getSaveFileName(window, "Export sketch", "sketch.png", "PNG images (*.png)")
        if path and (problem := export_sketch(tool, path)):
            window.notice.show_error(problem)

    window.export_sketch_action = window._action("Export sketch…", export_dialog)
    file_menu = window.menuBar().actions()[0].menu()
    file_menu.insertAction(window.preferences_action, window.export_sketch_action)
    folder = session_folder(window.settings.store)
    _CloseWatcher(window, folder)
    if restore_session(tool, folder):
        window.status.showMessage("Restored the sketch of the last session", 5000)
    return tool
