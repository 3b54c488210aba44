"""The worker: a QObject living in its own QThread that owns the loaded model and runs jobs.

It reads only the job it is given (a frozen request, a cancel flag, an output folder), never a widget.
Images become QImage here, in the worker thread, so the GUI thread only has to make a QPixmap. Every
outcome is a signal; an exception never escapes into Qt, so a failed job leaves the app ready.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QImage

from ldm_studio.engine.errors import LdmError
from ldm_studio.engine.requests import Cancelled, GenerationRequest, Preview, Progress, Result
from ldm_studio.gui.jobs.engine_api import EngineApi, ModelStatus, RealEngine
from ldm_studio.gui.jobs.queue import Job
from ldm_studio.gui.qt_images import array_to_qimage, pil_to_qimage

log = logging.getLogger(__name__)
WORKER_NICENESS = 5  # above the GUI thread's 0: lower priority, still plenty of CPU when the GUI is idle


@dataclass(frozen=True)
class ResultImage:
    """One generated image as the gallery keeps it."""

    image: QImage
    infotext: str
    seed: int
    request: GenerationRequest
    path: Path | None  # where it was saved; None when saving failed


def user_message(exc: BaseException) -> str:
    """A message a user can act on, for any exception a run may raise."""
    if isinstance(exc, LdmError):
        return str(exc)
    # torch.OutOfMemoryError (CUDA) and MemoryError (CPU) are recognised without importing torch here.
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return (
            "Out of memory. Try a smaller width and height, a batch size of 1, "
            "or a lower precision (fp16) in Preferences."
        )
    return f"Unexpected error ({type(exc).__name__}): {exc}"


class Worker(QObject):
    modelLoading = Signal(str)  # the checkpoint being loaded
    modelLoaded = Signal(object)  # ModelStatus
    started = Signal(object)  # the Job now executing
    progress = Signal(int, int)  # step, total
    stage = Signal(str)  # the pass a two-pass run is in ("hires fix"); "" for the first or only one
    preview = Signal(QImage, object)  # image, box (left, top, right, bottom) or None
    result = Signal(list)  # list[ResultImage]
    warning = Signal(str)  # a problem that did not stop the job (an image could not be saved)
    error = Signal(str)
    cancelled = Signal()
    finished = Signal(object)  # the Job, after exactly one of result / error / cancelled

    def __init__(self, engine: EngineApi | None = None) -> None:
        super().__init__()
        self._engine: EngineApi = engine if engine is not None else RealEngine()
        self._model: Any = None
        self._model_key: Hashable | None = None

    @Slot()
    def yield_to_the_gui(self) -> None:
        """Run in the worker thread at its start: let the GUI thread win the CPU when both want it.

        Linux ignores QThread priorities, but a thread's nice value is its own (and threads it starts,
        such as torch's, inherit it), so a busy machine slows the generation, not the window.
        """
        if sys.platform.startswith("linux"):
            with contextlib.suppress(OSError, AttributeError):
                thread = threading.get_native_id()
                # Relative to the process's own niceness: an app started with `nice` stays below it.
                nice = min(19, os.getpriority(os.PRIO_PROCESS, thread) + WORKER_NICENESS)
                os.setpriority(os.PRIO_PROCESS, thread, nice)

    @Slot()
    def warm_up(self) -> None:
        """Import the engine ahead of the first job; a failure here is reported by that job's load."""
        try:
            self._engine.warm_up()
        except Exception:
            log.warning("warming up the engine failed", exc_info=True)

    @Slot(object)
    def run_job(self, job: Job) -> None:
        self.started.emit(job)
        try:
            if job.cancel.is_set():
                self.cancelled.emit()
                return
            model = self._model_for(job.request)
            self._run(model, job)
        except Exception as exc:
            log.warning("job %s failed", job.id, exc_info=not isinstance(exc, LdmError))
            self.error.emit(user_message(exc))
        finally:
            self.finished.emit(job)

    def _model_for(self, request: GenerationRequest) -> Any:
        """The loaded model, reloaded only when the request asks for another file, device or precision."""
        key = self._engine.model_key(request)
        if key == self._model_key:
            return self._model
        self._model, self._model_key = None, None  # let the old weights go before the new ones load
        self.modelLoading.emit(Path(request.model).name if request.model else "the bundled demo model")
        model = self._engine.load_model(request)
        self._model, self._model_key = model, key
        self.modelLoaded.emit(self._engine.model_status(model))
        return model

    def _run(self, model: Any, job: Job) -> None:
        stage = ""
        for event in self._engine.run(model, job.request, job.cancel):
            if isinstance(event, Progress):
                if getattr(event, "stage", "") != stage:
                    stage = event.stage
                    self.stage.emit(stage)
                self.progress.emit(event.step, event.total)
            elif isinstance(event, Preview):
                self.preview.emit(array_to_qimage(event.image), event.box)
            elif isinstance(event, Cancelled):
                self.cancelled.emit()
                return
            elif isinstance(event, Result):
                self.result.emit(self._keep(event, job))
                if event.notes:  # it ran, but the user should know (LoRA modules that found no layer)
                    self.warning.emit(" ".join(event.notes))
                return
        # A generator that stops without a Result was cancelled (the flag is the reason it stopped).
        if job.cancel.is_set():
            self.cancelled.emit()
        else:
            self.error.emit("The engine stopped without a result.")

    def _keep(self, result: Result, job: Job) -> list[ResultImage]:
        """Save every image (a failed save warns but keeps the image in the gallery) and convert it."""
        kept = []
        for index, (image, infotext) in enumerate(zip(result.images, result.infotexts, strict=True)):
            seed = result.seeds[index] if index < len(result.seeds) else job.request.seed
            # The image's own request (batch of one, its seed): reused or varied, it makes this image again.
            single = job.request.for_image(index)
            path = self._save(image, infotext, seed, single, job)
            kept.append(ResultImage(pil_to_qimage(image), infotext, seed, single, path))
        return kept

    def _save(
        self, image: Any, infotext: str, seed: int, request: GenerationRequest, job: Job
    ) -> Path | None:
        try:
            return self._engine.save_image(image, infotext, request, job.output_folder, seed)
        except (OSError, LdmError) as exc:
            reason = str(exc) if isinstance(exc, LdmError) else f"Cannot save into {job.output_folder}: {exc}"
            self.warning.emit(
                f"{reason} The image is kept in the gallery: use “Save as…”, "
                "or choose another output folder in Preferences."
            )
            return None

    @property
    def model_status(self) -> ModelStatus | None:
        return self._engine.model_status(self._model) if self._model is not None else None
