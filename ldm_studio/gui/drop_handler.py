"""What happens to files dropped on the window (or opened with Ctrl+O).

A checkpoint is added to the models folder; an image opens on the canvas, and if it carries generation
parameters (ours, A1111, ComfyUI) they are restored into the prompt panel; anything else is refused
with a message. The decision is a plain function so it is tested without drag events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QDropEvent

from ldm_studio.engine.model_scan import is_checkpoint_file

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


@dataclass
class DroppedFiles:
    models: list[Path] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)
    others: list[Path] = field(default_factory=list)


def sort_dropped(paths: Sequence[Path]) -> DroppedFiles:
    dropped = DroppedFiles()
    for path in paths:
        if is_checkpoint_file(path):
            dropped.models.append(path)
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            dropped.images.append(path)
        else:
            dropped.others.append(path)
    return dropped


def local_files(event: QDropEvent) -> list[Path]:
    mime = event.mimeData()
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()] if mime.hasUrls() else []


class DropFilter(QObject):
    """An event filter that takes file drops away from the widgets it watches (the canvas opens only
    images; the window must also take checkpoints and parameters) and hands them to `on_drop`."""

    def __init__(self, on_drop, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._on_drop = on_drop

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            if local_files(event):
                event.acceptProposedAction()
                return True
        elif kind == QEvent.Type.Drop:
            files = local_files(event)
            if files:
                event.acceptProposedAction()
                self._on_drop(files)
                return True
        return False
