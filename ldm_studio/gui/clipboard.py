"""Copy and paste images through the system clipboard.

Ctrl+C copies the canvas image; Ctrl+V pastes the clipboard's image as the canvas image (an undoable
step), or as the mask while painting one (Inpaint mode with an image on the canvas; scaled to the image
with a notice when its size differs); Ctrl+Shift+V always pastes as the image. A clipboard holding a
copied image file (a file manager's copy) counts as that image. With a text field focused the same keys
and entries copy and paste text. A clipboard with no image: one line in the status bar, nothing changes.
A pasted image larger than the model's size gets the size offer (size_offer.py).
"""

from __future__ import annotations

from PIL import Image
from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QGuiApplication, QImage, QKeySequence

from ldm_studio.engine import image_files
from ldm_studio.gui.canvas_actions import find_menu, focused_text_field
from ldm_studio.gui.drop_handler import IMAGE_SUFFIXES
from ldm_studio.gui.qt_images import array_to_qimage, qimage_to_pil
from ldm_studio.gui.size_offer import offer_size_choice

NO_IMAGE = "The clipboard holds no image: nothing was pasted"
STATUS_MS = 8000


def clipboard_picture() -> Image.Image | None:
    """The clipboard's image, or the first image file copied in a file manager; None when neither.

    Raises image_files.ImageFileError for a copied file that cannot be read."""
    mime = QGuiApplication.clipboard().mimeData()
    if mime is None:
        return None
    if mime.hasImage():
        image = QImage(mime.imageData())
        if not image.isNull():
            return qimage_to_pil(image)
    for url in mime.urls() if mime.hasUrls() else ():
        path = url.toLocalFile()
        if path and path.lower().endswith(IMAGE_SUFFIXES):
            return Image.fromarray(image_files.load_image(path))
    return None


class ClipboardActions(QObject):
    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.copy_action = self._action("Copy image", self.copy, QKeySequence.StandardKey.Copy)
        # Lambdas: `triggered` passes `checked`, which must not become `as_mask`.
        self.paste_action = self._action("Paste image", lambda: self.paste(), QKeySequence.StandardKey.Paste)
        self.paste_image_action = self._action(
            "Paste as new image", lambda: self.paste(as_mask=False), QKeySequence("Ctrl+Shift+V")
        )
        edit_menu = find_menu(window, "Edit")
        if edit_menu is not None:
            edit_menu.addSeparator()
            edit_menu.addActions([self.copy_action, self.paste_action, self.paste_image_action])
            edit_menu.aboutToShow.connect(self.refresh)
        window.document.changed.connect(lambda name: name == "mode" and self.refresh())
        window.canvas.imageChanged.connect(self.refresh)
        self.refresh()

    def _action(self, text: str, slot, shortcut) -> QAction:
        action = QAction(text, self.window)
        action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        self.window.addAction(action)
        return action

    def pastes_mask(self) -> bool:
        return self.window.document.mode == "inpaint" and self.window.canvas.image() is not None

    def refresh(self) -> None:
        self.paste_action.setText("Paste as mask" if self.pastes_mask() else "Paste image")

    def copy(self) -> None:
        field = focused_text_field()
        if field is not None:
            field.copy()
            return
        image = self.window.canvas.image()
        if image is None:
            self._say("Nothing to copy: the canvas has no image yet")
            return
        QGuiApplication.clipboard().setImage(array_to_qimage(image))
        self._say(f"Copied the {image.shape[1]}×{image.shape[0]} image")

    def paste(self, as_mask: bool | None = None) -> None:
        field = focused_text_field()
        if field is not None and as_mask is None:
            field.paste()
            return
        try:
            picture = clipboard_picture()
        except image_files.ImageFileError as error:
            self._say(str(error))
            return
        if picture is None:
            self._say(NO_IMAGE)
            return
        if self.pastes_mask() if as_mask is None else as_mask:
            self._paste_mask(picture)
        else:
            self._paste_image(picture)

    def _paste_mask(self, picture: Image.Image) -> None:
        canvas = self.window.canvas
        height, width = canvas.image().shape[:2]
        mask = image_files.mask_array(picture)
        note = ""
        if mask.shape != (height, width):
            note = f" (the clipboard's {mask.shape[1]}×{mask.shape[0]} scaled to {width}×{height})"
            mask = image_files.resize_mask(mask, width, height)
        canvas.set_mask(mask)
        self._say(f"Pasted the clipboard as the mask{note}")

    def _paste_image(self, picture: Image.Image) -> None:
        image = image_files.image_array(picture)
        self.window.canvas.place_image(image, label="Paste image")
        self._say(f"Pasted a {image.shape[1]}×{image.shape[0]} image (Ctrl+Z brings back the one before)")
        offer_size_choice(self.window, "The pasted image")

    def _say(self, text: str) -> None:
        self.window.status.showMessage(text, STATUS_MS)


def install_clipboard(window) -> ClipboardActions:
    """Copy / Paste entries in the Edit menu, with their window-wide shortcuts."""
    return ClipboardActions(window)
