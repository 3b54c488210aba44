"""Live mode: while it is on, every prompt edit and every finished mask stroke makes a new image.

Edits are debounced (`DEBOUNCE_MS` after the last one), then the running job is cancelled (it stops
within one step) and a new one starts with the fast settings of jobs/live_settings.py, so the image
follows the words and the brush. The seed stays the document's (a live image changes with the edit,
not with a new seed). In img2img / inpaint the input stays the image the user gave: a live result shown
on the canvas is not fed back as the next input. Live images are scratch: they are saved into
`<data folder>/live` (emptied when live mode is next switched on; "Save as…" keeps one) and are not
added to the history. The gallery shows only the newest live image (each replaces the one before), and
keeps one the user saved with "Save as…"; the thumbnail cache never sees them.
`install_live_mode(window)` adds the toggle (Generate menu, toolbar, Ctrl+L).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QToolBar

from ldm_studio.engine.errors import InputError
from ldm_studio.gui.jobs.live_settings import live_settings
from ldm_studio.gui.jobs.queue import Job

DEBOUNCE_MS = 300
LIVE_FOLDER = "live"  # inside the data folder
LIVE_FIELDS = ("prompt", "negative_prompt")  # document fields whose edits start a live run
_KEPT_JOBS = 50


class LiveMode(QObject):
    # `window` is the MainWindow (not imported: it imports this module). Its generate() draws a new seed
    # and speaks for a button press; a live run builds its request through the same two helpers instead.
    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.folder = Path(window.settings.data_folder) / LIVE_FOLDER
        self.jobs: list[Job] = []
        self.last_kind = ""  # what live_settings made of the model, for the status bar
        self._base: np.ndarray | None = None  # the user's input image of img2img / inpaint
        self._shown: np.ndarray | None = None  # the last live result put on the canvas
        self._sent: tuple | None = None  # (document values, input image, mask) of the last live run
        self._in_gallery: list = []  # the live results the gallery shows now: the next ones replace them
        self.timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self.run_now)
        self.action = QAction("Live mode", window, checkable=True)
        self.action.setShortcut(QKeySequence("Ctrl+L"))
        self.action.setToolTip("Live: every prompt edit and mask stroke makes a new image (Ctrl+L)")
        self.action.toggled.connect(self.set_enabled)
        window.addAction(self.action)
        for menu in window.menuBar().findChildren(QMenu):
            if menu.title() == "&Generate":
                menu.addAction(self.action)
        toolbar = window.findChild(QToolBar, "model_toolbar")
        if toolbar is not None:
            toolbar.addAction(self.action)
        window.document.changed.connect(self._on_document_changed)
        window.canvas.maskChanged.connect(self._on_mask_changed)
        window.runner.result.connect(self._on_result)
        window.gallery.savedAs.connect(self._on_saved_as)

    @property
    def enabled(self) -> bool:
        return self.action.isChecked()

    def set_enabled(self, on: bool) -> None:
        if self.action.isChecked() != on:
            self.action.setChecked(on)  # comes back here through `toggled`
            return
        if on:
            self._base = self._shown = self._sent = None
            self._clear_scratch()
            self.timer.start()  # show the current state straight away (after the same short wait)
            self.window.status.showMessage("Live mode: edits make new images", 5000)
        else:
            self.timer.stop()

    def owns_running_job(self) -> bool:
        """Whether the job now executing was started by live mode (its results are scratch)."""
        return self.window.runner.queue.executing in self.jobs

    def _on_document_changed(self, name: str) -> None:
        if self.enabled and name in LIVE_FIELDS:
            self.timer.start()  # restarted by every edit: runs once the user pauses

    def _on_mask_changed(self) -> None:
        if self.enabled and self.window.document.mode == "inpaint":
            self.timer.start()

    def run_now(self) -> Job | None:
        """Cancel what runs and start the live request for the document as it is now."""
        self.timer.stop()
        window, document = self.window, self.window.document
        image = self._input_image()
        mask = window.canvas.mask() if document.mode == "inpaint" and image is not None else None
        used = image if document.mode != "txt2img" else None  # txt2img reads no image
        if self._unchanged(document.values(), used, mask):
            return None  # a result put on the canvas re-emits maskChanged: the same input must not loop
        try:
            request = window.request_for(image, mask)
        except InputError as exc:
            window.notice.show_error(str(exc))
            return None
        self._sent = (document.values(), used, mask)
        settings = live_settings(request)
        self.last_kind = settings.kind
        window.runner.cancel()  # the running job stops within a step; queued ones are dropped
        job = window.runner.submit(settings.request, self.folder)
        window.prompt_panel.set_running(True)
        self.jobs = [*self.jobs[-_KEPT_JOBS:], job]
        return job

    def _unchanged(self, values: dict, image: np.ndarray | None, mask: np.ndarray | None) -> bool:
        if self._sent is None:
            return False
        sent_values, sent_image, sent_mask = self._sent
        same_mask = (mask is None and sent_mask is None) or (
            mask is not None and sent_mask is not None and np.array_equal(mask, sent_mask)
        )
        return values == sent_values and image is sent_image and same_mask

    def _input_image(self) -> np.ndarray | None:
        image = self.window.canvas.image()
        if self.window.document.mode == "txt2img" or image is None:
            return image
        if self._shown is not None and self._base is not None and np.array_equal(image, self._shown):
            return self._base  # the canvas shows our last result: keep working from the user's image
        self._base = image
        return image

    def _on_result(self, results: list) -> None:
        if results and self.owns_running_job():
            self._shown = self.window.canvas.image()  # the window has just put the result on the canvas
            # The window has just listed them too: the previous live images make way (scratch).
            new = {id(r) for r in results}
            self.window.gallery.remove_results([r for r in self._in_gallery if id(r) not in new])
            self._in_gallery = list(results)

    def _on_saved_as(self, result: Any, _written: Path) -> None:
        # Saved by the user: that one stays in the gallery; the next live image comes in beside it.
        self._in_gallery = [r for r in self._in_gallery if r is not result]

    def _clear_scratch(self) -> None:
        """The previous live session's images: only PNGs, only in our own scratch folder."""
        if not self.folder.is_dir():
            return
        for path in self.folder.glob("*.png"):
            with contextlib.suppress(OSError):
                path.unlink()


def install_live_mode(window: Any) -> LiveMode:
    return LiveMode(window)
