"""Adds the X/Y/Z plot to the main window: a dock beside the gallery and "X/Y/Z plot…" in the Generate
menu. Everything the panel needs from the window is passed in here, so the window itself changes by
one call."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFrame, QMainWindow, QScrollArea

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.grids.axes import ModelFacts
from ldm_studio.engine.requests import MODES, GenerationRequest
from ldm_studio.gui.grid.panel import GridPanel

# `window` is the MainWindow (not imported: it imports this module); what is used of it: runner,
# settings, models, document, prompt_panel, status, current_request(), view_result(), the gallery dock.
MainWindow = QMainWindow


def model_facts(window: MainWindow, model: str) -> ModelFacts:
    """A model's size multiple and modes as the models list scanned them (defaults if not scanned)."""
    entry = window.models.entry_for(model)
    if entry is None:
        return ModelFacts()
    if not entry.usable:
        raise InputError(entry.problem)
    return ModelFacts(entry.size_multiple or 8, tuple(entry.modes) or MODES, entry.family_label)


def base_request(window: MainWindow) -> GenerationRequest:
    """What Generate would run now; a new seed first unless the seed is locked (as Generate does)."""
    request = window.current_request()
    if not window.document.seed_locked:
        window.document.randomize_seed()
        request = request.replace(seed=window.document.seed)
    return request


def install_grid(window: MainWindow) -> GridPanel:
    panel = GridPanel(
        window.runner,
        lambda: base_request(window),
        models_folder=lambda: window.settings.models_folder,
        describe_model=lambda model: model_facts(window, model),
        output_folder=lambda: window.settings.outputs_folder,
    )
    dock = QDockWidget("X/Y/Z plot", window)
    dock.setObjectName("grid_dock")  # saveState needs names
    holder = QScrollArea()  # the window keeps its minimum size: a short dock scrolls the axis rows
    holder.setWidgetResizable(True)
    holder.setFrameShape(QFrame.Shape.NoFrame)
    holder.setWidget(panel)
    dock.setWidget(holder)
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
    dock.hide()  # until asked for (the menu action): a closed plot costs the window no room

    def show() -> None:
        gallery = window.findChild(QDockWidget, "gallery_dock")
        if dock.isHidden() and gallery is not None and not window.tabifiedDockWidgets(dock):
            window.tabifyDockWidget(gallery, dock)  # beside the gallery, as a tab
        dock.show()
        dock.raise_()
        panel.values["X"].setFocus()

    action = QAction("X/Y/Z plot…", window)
    action.setShortcut(QKeySequence("Ctrl+Shift+G"))
    action.triggered.connect(show)
    window.addAction(action)
    menu = next((a.menu() for a in window.menuBar().actions() if a.text() == "&Generate"), None)
    if menu is not None:
        menu.addAction(action)
    panel.openResult.connect(window.view_result)
    panel.started.connect(lambda: window.prompt_panel.set_running(True))
    panel.message.connect(lambda text: window.status.showMessage(text, 8000))
    window.grid_panel, window.grid_dock, window.grid_action = panel, dock, action
    return panel
