"""The main window: canvas in the centre, prompt panel, models, gallery strip and status bar around it.

It wires parts that do not know each other: the document (what to generate), the canvas (the working
image and mask), the job runner (the worker thread) and the views of their results. Generate freezes
the document into a request; the runner's signals come back here and are shown. Files dropped or opened
go through `open_paths`. Nothing here blocks: errors become a notice, and the next Generate works.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QCloseEvent, QImage, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMainWindow, QToolBar, QVBoxLayout, QWidget

from ldm_studio.engine.errors import InputError, LdmError
from ldm_studio.engine.outputs import check_destination
from ldm_studio.engine.requests import GenerationRequest
from ldm_studio.gui.canvas.outpaint_bar import install_outpaint
from ldm_studio.gui.canvas.scribble_window import install_scribble
from ldm_studio.gui.canvas.sketch_window import install_sketch, sketch_request
from ldm_studio.gui.canvas.toolbar import CanvasToolbar
from ldm_studio.gui.canvas.widget import Canvas
from ldm_studio.gui.canvas_actions import install_edit_router, install_view_menu
from ldm_studio.gui.clipboard import install_clipboard
from ldm_studio.gui.document import Document
from ldm_studio.gui.drop_handler import DropFilter
from ldm_studio.gui.file_opening import open_paths
from ldm_studio.gui.grid.install import install_grid
from ldm_studio.gui.history_dock import install_history
from ldm_studio.gui.jobs.engine_api import EngineApi
from ldm_studio.gui.jobs.queue import Job, JobQueue, JobState
from ldm_studio.gui.jobs.runner import JobRunner
from ldm_studio.gui.jobs.worker import ResultImage
from ldm_studio.gui.live_mode import install_live_mode
from ldm_studio.gui.model_defaults import ModelDefaults
from ldm_studio.gui.models_watch import watch_models
from ldm_studio.gui.panels.gallery import Gallery
from ldm_studio.gui.panels.gallery_store import install_gallery_store
from ldm_studio.gui.panels.loras import adapter_folders
from ldm_studio.gui.panels.model_list import ModelList
from ldm_studio.gui.panels.models import ModelSelector
from ldm_studio.gui.panels.notice_bar import NoticeBar
from ldm_studio.gui.panels.offer_bar import OfferBar
from ldm_studio.gui.panels.preferences import PreferencesDialog
from ldm_studio.gui.panels.status_bar import StatusBar
from ldm_studio.gui.panels.styles import install_styles
from ldm_studio.gui.qt_images import qimage_to_array
from ldm_studio.gui.restore_offer import install_restore_offer
from ldm_studio.gui.settings import Settings, default_models_folder
from ldm_studio.gui.side_docks import install_side_docks

BLANK_GREY = 128
OPEN_FILTER = "Images and checkpoints (*.png *.jpg *.jpeg *.webp *.bmp *.safetensors *.ckpt);;All files (*)"
_END_MESSAGES = {JobState.FINISHED: "Done", JobState.CANCELLED: "Cancelled", JobState.FAILED: "Failed"}


class MainWindow(QMainWindow):
    def __init__(
        self, settings: Settings, engine: EngineApi | None = None, models: ModelList | None = None
    ) -> None:
        super().__init__()
        self.setWindowTitle("ldm_studio")
        self.settings = settings
        self.document = Document(self)
        self.model_defaults = ModelDefaults(self, first_run=not settings.document)
        self.document.update(settings.document, strict=False)  # the last session's parameters
        self.models = models if models is not None else ModelList(settings, parent=self)
        self.runner = JobRunner(JobQueue(self), engine, self)

        self.canvas = Canvas()
        self.notice = NoticeBar()
        central = QWidget()
        central_layout = QVBoxLayout(central)
        central_layout.setContentsMargins(0, 0, 0, 0)
        central_layout.addWidget(self.notice)
        self.offers = OfferBar()  # non-modal choices: restore a result's parameters, keep or scale an image
        central_layout.addWidget(self.offers)
        damaged = getattr(settings, "problem_summary", lambda: "")()
        if damaged:  # keys of a damaged settings file fell back to their defaults: say so, once
            self.notice.show_info(damaged)
        central_layout.addWidget(self.canvas, stretch=1)
        self.setCentralWidget(central)
        canvas_toolbar = CanvasToolbar(self.canvas, self)
        canvas_toolbar.setObjectName("canvas_toolbar")  # saveState needs names
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, canvas_toolbar)

        self.gallery = Gallery()
        self.gallery.output_folder = settings.outputs_folder
        install_side_docks(self)  # Prompt, Models, LoRAs, ControlNet: tabs right of the canvas
        self._dock("Gallery", self.gallery, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.status = StatusBar(self)
        self.setStatusBar(self.status)
        self.model_selector = ModelSelector(self.models, self.document)
        self._build_actions()
        install_sketch(self)  # the Sketch tool bar, File ▸ Export sketch…, the sketch kept with the session
        self.controlnet_panel.scribble = install_scribble(self).control_pixels  # a ControlNet map drawn here
        install_outpaint(self)  # the Outpaint tool bar and the canvas edge handles

        self._drop_filter = DropFilter(self.open_paths, self)
        self.setAcceptDrops(True)
        for widget in (self, self.canvas):
            widget.installEventFilter(self._drop_filter)
        self._connect()
        self.history = install_history(self)  # the History dock; records every finished job
        self.styles = install_styles(self)  # the styles row beside Generate
        self.live = install_live_mode(self)  # the Live mode toggle (Generate menu, toolbar)
        self._install_canvas_features()
        self._blank_shown = False  # the grey stand-in under a first run's previews: not a step to undo to
        install_grid(self)  # the X/Y/Z plot dock and its menu action
        self.previews_shown = 0  # of the running job: tests and the user both count on previews
        self._done_message = ""
        if settings.window_geometry is not None:
            self.restoreGeometry(settings.window_geometry)
        else:
            self.resize(1400, 900)
        if settings.window_state is not None:
            self.restoreState(settings.window_state)
        if settings.models_folder == default_models_folder():
            with contextlib.suppress(OSError):  # our own folder: make it, so the hint can point into it
                settings.models_folder.mkdir(parents=True, exist_ok=True)
        self.models.rescan()
        self.adapters_panel.set_folders(*adapter_folders(settings.models_folder))
        self.controlnet_panel.set_folder(settings.models_folder)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"{title.lower()}_dock")  # saveState needs names
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(area, dock)
        return dock

    def _action(self, text: str, slot, shortcuts: Sequence[QKeySequence | str] = ()) -> QAction:
        action = QAction(text, self)
        action.setShortcuts([QKeySequence(s) for s in shortcuts])
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work wherever the focus is in the window
        return action

    def _build_actions(self) -> None:
        self.generate_action = self._action("Generate", self.generate, ["Ctrl+Return", "Ctrl+Enter"])
        self.cancel_action = self._action("Cancel", self.cancel, ["Esc"])
        self.open_action = self._action("Open…", self.open_dialog, [QKeySequence.StandardKey.Open])
        self.save_action = self._action("Save image as…", self.gallery.save_selected_as, ["Ctrl+S"])
        self.undo_action = self._action("Undo", self.canvas.undo, ["Ctrl+Z"])
        self.redo_action = self._action("Redo", self.canvas.redo, ["Ctrl+Y", "Ctrl+Shift+Z"])
        self.preferences_action = self._action("Preferences…", self.show_preferences, ["Ctrl+,"])
        self.quit_action = self._action("Quit", self.close, ["Ctrl+Q"])

        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        file_menu.addActions([self.open_action, self.save_action])
        file_menu.addSeparator()
        file_menu.addActions([self.preferences_action, self.quit_action])
        edit_menu = menus.addMenu("&Edit")
        edit_menu.addActions([self.undo_action, self.redo_action])
        generate_menu = menus.addMenu("&Generate")
        generate_menu.addActions([self.generate_action, self.cancel_action])

        bar = QToolBar("Model", self)
        bar.setObjectName("model_toolbar")
        bar.addWidget(self.model_selector)
        bar.addActions([self.generate_action, self.cancel_action])
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        self.insertToolBarBreak(bar)

    def _connect(self) -> None:
        runner, status = self.runner, self.status
        runner.modelLoading.connect(status.show_loading)
        runner.modelLoaded.connect(status.show_model)
        runner.started.connect(self._on_started)
        runner.progress.connect(status.show_progress)
        runner.stage.connect(status.show_stage)
        runner.preview.connect(self._on_preview)
        runner.result.connect(self._on_result)
        runner.error.connect(self._on_error)
        runner.warning.connect(self.notice.show_error)
        runner.jobFinished.connect(self._on_job_finished)
        runner.queue.changed.connect(lambda: status.show_queue(runner.queue.count(JobState.QUEUED)))
        self.prompt_panel.generateClicked.connect(self.generate)
        self.prompt_panel.cancelClicked.connect(self.cancel)
        self.prompt_panel.set_running(False)
        self.gallery.viewRequested.connect(self.view_result)
        self.gallery.useAsInput.connect(self.use_as_input)
        self.gallery.variationsRequested.connect(self.make_variations)
        self.gallery.message.connect(lambda text: status.showMessage(text, 8000))
        self.gallery.errorOccurred.connect(self.notice.show_error)
        self.models.changed.connect(self.model_defaults.on_models_changed)
        self.adapters_panel.listed.connect(self.prompt_panel.completer.set_names)
        self.adapters_panel.message.connect(lambda text: status.showMessage(text, 8000))
        self.adapters_panel.errorOccurred.connect(self.notice.show_error)
        self.models.message.connect(lambda text: status.showMessage(text, 8000))
        self.models.errorOccurred.connect(self.notice.show_error)
        self.document.changed.connect(self._on_document_changed)
        self._sync_feather_preview()

    def _install_canvas_features(self) -> None:
        """Undo / Redo routed between canvas and text fields, the View menu, the clipboard, restoring a
        gallery result's parameters, earlier sessions' results and the watched models folder."""
        self.edit_router = install_edit_router(self)
        self.fit_action, self.actual_size_action = install_view_menu(self)
        self.clipboard_actions = install_clipboard(self)
        install_restore_offer(self)
        self.gallery_store = install_gallery_store(self)
        self.models_watcher = watch_models(self.models, self)

    # -- generating ----------------------------------------------------------------------------

    def generate(self) -> Job | None:
        """Freeze the document into a request and queue it; say what is missing instead if it cannot run."""
        document = self.document
        image = self.canvas.image()
        mask = self.canvas.mask() if document.mode == "inpaint" and image is not None else None
        try:
            request = self.request_for(image, mask)
        except InputError as exc:
            self.notice.show_error(str(exc))
            return None
        try:  # before the run, not after it: a result that cannot be saved would only live in memory
            check_destination(self.settings.outputs_folder)
        except LdmError as exc:
            self.notice.show_error(f"Nothing was run: {exc}")
            return None
        if not document.seed_locked:  # only a run that goes ahead draws a new seed; the field shows it
            document.randomize_seed()
            request = request.replace(seed=document.seed)
        if self.notice.kind == "error":
            self.notice.dismiss()  # a new attempt: the old error is no longer news
        self.settings.document = document.values()  # a crash later must not lose the prompt
        job = self.runner.submit(request, self.settings.outputs_folder)
        self.prompt_panel.set_running(True)
        if job.state is JobState.QUEUED:
            self.status.showMessage("Queued: it starts when the current image is done", 5000)
        return job

    def current_request(self) -> GenerationRequest:
        """The request Generate would queue now, seed as it stands (InputError when it cannot run)."""
        image = self.canvas.image()
        mask = self.canvas.mask() if self.document.mode == "inpaint" and image is not None else None
        return self.request_for(image, mask)

    def request_for(self, image: np.ndarray | None, mask: np.ndarray | None) -> GenerationRequest:
        """The document's request on this image and mask, as every run sends it (Generate, grids, live mode):
        the shown sketch composited, the ControlNet units, the adapter folders. InputError when the chosen
        model cannot do the mode."""
        self._check_model_can(self.document.mode)
        request = self._with_model_context(sketch_request(self, image, mask))  # image + shown sketch
        return request.replace(controlnets=self.controlnet_panel.units(image))

    def _with_model_context(self, request: GenerationRequest) -> GenerationRequest:
        """What the window adds to the document's request: the adapter folders; a refiner only where one
        applies."""
        loras, embeddings = adapter_folders(self.settings.models_folder)
        changes = {"lora_dir": str(loras), "embeddings_dir": str(embeddings)}
        if request.refiner and not self.prompt_panel.refiner_applies():
            changes["refiner"] = None  # chosen for an SDXL model earlier; this model or mode takes none
        return request.replace(**changes)

    def _check_model_can(self, mode: str) -> None:
        entry = self.models.entry_for(self.document.model)
        if entry is not None and entry.usable and entry.modes and mode not in entry.modes:
            raise InputError(
                f"{entry.name} cannot do {mode}: it can do {', '.join(entry.modes)}. Choose another model."
            )

    def cancel(self) -> None:
        if self.runner.busy or self.runner.queue.next_queued() is not None:
            self.runner.cancel()
            self.status.showMessage("Cancelling…", 3000)

    def _on_started(self, job: Job) -> None:
        self.previews_shown = 0
        self._done_message = ""
        self.status.job_started()
        request = job.request
        if request.mode == "txt2img" and self.canvas.image() is None:
            # Give the live previews something to be drawn on.
            blank = np.full((request.height, request.width, 3), BLANK_GREY, np.uint8)
            self.canvas.set_image(blank)
            self._blank_shown = True

    def _on_preview(self, image: QImage, box) -> None:
        self.previews_shown += 1
        self.canvas.show_preview(image, box)

    def _on_result(self, results: list[ResultImage]) -> None:
        self.canvas.clear_preview()
        self.gallery.add_results(results)
        if results:
            self.view_result(results[0])
        saved = [r.path for r in results if r.path is not None]
        if len(saved) == 1:
            self._done_message = f"Done: saved {saved[0].name} in {saved[0].parent}"
        elif saved:
            self._done_message = f"Done: saved {len(saved)} images in {saved[0].parent}"

    def _on_error(self, message: str) -> None:
        self.canvas.clear_preview()
        self.notice.show_error(message)

    def _on_job_finished(self, job: Job) -> None:
        self.canvas.clear_preview()
        busy = self.runner.busy or self.runner.queue.next_queued() is not None
        self.prompt_panel.set_running(busy)
        if not busy:
            message = _END_MESSAGES.get(job.state, "")
            if job.state is JobState.FINISHED and self._done_message:
                message = self._done_message
            self.status.job_ended(message)

    # -- results and inputs --------------------------------------------------------------------

    def view_result(self, result: ResultImage) -> None:
        """Make a result the working image; an inpainting mask of the same size is kept for the next try."""
        self._set_working_image(qimage_to_array(result.image), keep_mask=True)

    def make_variations(self, result: ResultImage, count: int, strength: float) -> Job:
        """`count` neighbours of a result: its own request and seed, a random variation seed (+ i)."""
        request = result.request.replace(
            batch_size=count, variation_seed=random.randrange(2**32), variation_strength=strength
        )
        job = self.runner.submit(request, self.settings.outputs_folder)
        self.prompt_panel.set_running(True)
        return job

    def use_as_input(self, result: ResultImage, mode: str) -> None:
        self._set_working_image(qimage_to_array(result.image), keep_mask=mode == "inpaint")
        self.document.mode = mode

    def _set_working_image(self, image: np.ndarray, keep_mask: bool) -> None:
        """Place the image as an undoable canvas step (Ctrl+Z brings back the image and mask before)."""
        mask = self.canvas.mask()
        kept = mask if keep_mask and mask.shape == image.shape[:2] and mask.any() else None
        if self._blank_shown:  # the grey stand-in the previews were drawn on is no step to go back to
            self._blank_shown = False
            self.canvas.set_image(image)
            if kept is not None:
                self.canvas.set_mask(kept)
            return
        self.canvas.place_image(image, mask=kept)

    # -- files ----------------------------------------------------------------------------------

    def open_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open", str(self.settings.outputs_folder), OPEN_FILTER)
        self.open_paths([Path(p) for p in paths])

    def open_paths(self, paths: Sequence[Path]) -> None:
        """Checkpoints join the models folder, LoRAs and embeddings their folders; the first image opens,
        with its parameters if any."""
        open_paths(self, paths)

    # -- models and settings --------------------------------------------------------------------

    def _sync_feather_preview(self) -> None:
        # The canvas's "Feathered" view shows the mask as the model will use it: with this blur.
        _, grow, enabled = self.canvas.feather_preview()
        self.canvas.set_feather_preview(self.document.mask_blur, grow, enabled)

    def _on_document_changed(self, name: str) -> None:
        if name == "mask_blur":
            self._sync_feather_preview()
        elif name == "model":
            self.model_defaults.on_model_chosen()

    def show_preferences(self) -> None:
        dialog = PreferencesDialog(self.settings, self.document, self)
        old_models, old_outputs = self.settings.models_folder, self.settings.outputs_folder
        if dialog.exec():
            self.gallery.output_folder = self.settings.outputs_folder
            if self.settings.outputs_folder != old_outputs:  # the gallery lists the new folder's results
                self.gallery_store.reload(self.settings.outputs_folder)
            if self.settings.models_folder != old_models:
                self.models.rescan()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.runner.shutdown()
        self.settings.document = self.document.values()
        self.settings.window_geometry = self.saveGeometry()
        self.settings.window_state = self.saveState()
        self.settings.sync()
        super().closeEvent(event)
