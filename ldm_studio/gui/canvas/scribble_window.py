"""The scribble in the main window: tool bar, File ▸ Import control image… / Export scribble…, the session.

`install_scribble(window) -> ScribbleTool` adds all of it and sets `window.scribble`; the request side
(a ControlNet unit made from `control_pixels()`) is wired where the ControlNet panel is. Choosing a
scribble tool takes the canvas from the sketch and the mask tools, and choosing theirs gives it back.
The session: a non-empty scribble is kept on closing (`scribble.png`, and the image under it in
`scribble_image.png`, in the same `session/` folder as the sketch) and comes back at the next start.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QFileDialog, QToolBar, QWidget

from ldm_studio.engine import image_files
from ldm_studio.engine.errors import InputError
from ldm_studio.gui.canvas.scribble_tool import ScribbleTool
from ldm_studio.gui.canvas.sketch_window import session_folder
from ldm_studio.gui.canvas.toolbar import CanvasToolbar

SCRIBBLE_FILE, SCRIBBLE_IMAGE_FILE = "scribble.png", "scribble_image.png"
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff)"


class ScribbleToolbar(QToolBar):
    def __init__(self, tool: ScribbleTool, parent: QWidget | None = None) -> None:
        super().__init__("Scribble", parent)
        self.setObjectName("scribble_toolbar")  # saveState needs names
        self.tool = tool
        group = QActionGroup(self)
        group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        self.tool_actions: dict[str, QAction] = {}
        for name, text, tip in (
            ("scribble", "Scribble", "Draw white lines on the control map (for a ControlNet)"),
            ("eraser", "Scribble eraser", "Erase lines from the control map"),
        ):
            action = self._action(text, tip, checkable=True)
            action.triggered.connect(lambda checked, n=name: tool.set_tool(n if checked else ""))
            group.addAction(action)
            self.tool_actions[name] = action
        self.clear_action = self._action("Clear scribble", "Erase the whole control map (undoable)")
        self.clear_action.triggered.connect(tool.clear)
        self.show_action = self._action("Show scribble", "Show the control map over the image", True)
        self.show_action.triggered.connect(tool.set_visible)
        tool.toolChanged.connect(self._follow)
        tool.visibilityChanged.connect(self._follow)
        self._follow()

    def _action(self, text: str, tip: str, checkable: bool = False) -> QAction:
        action = self.addAction(text)
        action.setToolTip(tip)
        action.setCheckable(checkable)
        return action

    def _follow(self) -> None:
        for name, action in self.tool_actions.items():
            action.setChecked(name == self.tool.tool())
        self.show_action.setChecked(self.tool.visible())


def import_control_image(tool: ScribbleTool, path: str | Path) -> str:
    """Load an image file as the map (its grey levels over black; scaled to the image when another
    size, undoable). Returns a notice of the scaling ('' if none); raises InputError, nothing changed."""
    image = tool.canvas.image()
    if image is None:
        raise InputError("Open or generate an image first: the control map is drawn at the image's size")
    try:
        grey, notice = image_files.load_mask_sized(path, image.shape[1], image.shape[0])
    except image_files.ImageFileError as error:
        raise InputError(str(error)) from None
    tool.set_map(grey)
    return notice


def export_scribble(tool: ScribbleTool, path: str | Path) -> str | None:
    """Save the map as a greyscale PNG; returns why not (one line), or None when saved."""
    pixels = tool.control_pixels()
    if pixels is None:
        return "There is no scribble to export: draw on the image with the Scribble tool first"
    try:
        image_files.write_mask_png(path, pixels[..., 0], overwrite=True)
    except image_files.ImageFileError as error:
        return str(error)
    return None


def save_session(tool: ScribbleTool, folder: Path) -> None:
    """Keep a non-empty scribble and its image; an empty one removes what an earlier session kept."""
    image, pixels = tool.canvas.image(), tool.control_pixels()
    with contextlib.suppress(OSError, image_files.ImageFileError):  # closing must never fail
        if image is None or pixels is None:
            for name in (SCRIBBLE_FILE, SCRIBBLE_IMAGE_FILE):
                (folder / name).unlink(missing_ok=True)
            return
        folder.mkdir(parents=True, exist_ok=True)
        image_files.write_mask_png(folder / SCRIBBLE_IMAGE_FILE, image, overwrite=True)
        image_files.write_mask_png(folder / SCRIBBLE_FILE, pixels[..., 0], overwrite=True)


def restore_session(tool: ScribbleTool, folder: Path) -> bool:
    """Bring back the scribble and its image; a damaged pair is ignored. The image is set only when
    the canvas does not show it already (the sketch's restore may have put it there)."""
    if not (folder / SCRIBBLE_FILE).is_file() or not (folder / SCRIBBLE_IMAGE_FILE).is_file():
        return False
    try:
        image = image_files.load_image(folder / SCRIBBLE_IMAGE_FILE)
        grey = image_files.load_mask(folder / SCRIBBLE_FILE)
    except (OSError, ValueError, image_files.ImageFileError):
        return False
    if grey.shape != image.shape[:2]:
        return False
    current = tool.canvas.image()
    if current is None or not np.array_equal(current, image):
        tool.canvas.set_image(image)
    tool.set_map(grey)
    tool.layer.history.clear()  # the restored scribble is where its history starts
    tool.historyChanged.emit()
    return True


class _CloseWatcher(QObject):
    def __init__(self, window, tool: ScribbleTool, folder: Path) -> None:
        super().__init__(window)
        self._tool, self._folder = tool, folder
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close:
            save_session(self._tool, self._folder)
        return False


def install_scribble(window) -> ScribbleTool:
    """Add the scribble to a MainWindow (after install_sketch): tool, tool bar, File menu, session."""
    tool = ScribbleTool(window.canvas)
    window.scribble = tool
    window.scribble_toolbar = ScribbleToolbar(tool, window)
    window.addToolBar(window.scribble_toolbar)
    sketch = getattr(window, "sketch", None)
    if sketch is not None:  # one tool has the canvas at a time; an outpaint moves both layers
        tool.toolChanged.connect(lambda: tool.tool() and sketch.set_tool(""))
        sketch.toolChanged.connect(lambda: sketch.tool() and tool.set_tool(""))
        sketch.resizeExpected.connect(tool.expect_resize)
    mask_bar = window.findChild(CanvasToolbar)
    for action in (mask_bar.brush_action, mask_bar.eraser_action) if mask_bar is not None else ():
        action.triggered.connect(lambda: tool.set_tool(""))

    def import_dialog() -> None:
        path, _ = QFileDialog.getOpenFileName(window, "Import control image", "", IMAGE_FILTER)
        try:
            notice = import_control_image(tool, path) if path else ""
        except InputError as error:
            window.notice.show_error(str(error))
            return
        if notice:
            window.notice.show_info(notice)

    def export_dialog() -> None:
        path, _ = QFileDialog.getSaveFileName(window, "Export scribble", "scribble.png", "PNG images (*.png)")
        if path and (problem := export_scribble(tool, path)):
            window.notice.show_error(problem)

    window.import_control_action = window._action("Import control image…", import_dialog)
    window.export_scribble_action = window._action("Export scribble…", export_dialog)
    file_menu = window.menuBar().actions()[0].menu()
    for action in (window.import_control_action, window.export_scribble_action):
        file_menu.insertAction(window.preferences_action, action)
    folder = session_folder(window.settings.store)
    _CloseWatcher(window, tool, folder)
    if restore_session(tool, folder):
        window.status.showMessage("Restored the scribble of the last session", 5000)
    return tool
