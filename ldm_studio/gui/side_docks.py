"""The docks right of the canvas: Prompt, Models, LoRAs and ControlNet, tabbed into one column so the
window still fits a small screen. The window keeps each panel as an attribute; this only builds them."""

from __future__ import annotations

from itertools import pairwise

from PySide6.QtCore import Qt

from ldm_studio.gui.panels.controlnet import ControlNetPanel, scrollable
from ldm_studio.gui.panels.loras import AdapterPanel
from ldm_studio.gui.panels.models import ModelsPanel
from ldm_studio.gui.panels.prompt import PromptPanel


def install_side_docks(window) -> None:
    """Create `window.prompt_panel`, `.models_panel`, `.adapters_panel` and `.controlnet_panel` in their
    docks (Prompt in front)."""
    document = window.document
    window.prompt_panel = PromptPanel(document)
    window.models_panel = ModelsPanel(window.models, document, window.settings)
    window.adapters_panel = AdapterPanel(document)
    window.controlnet_panel = ControlNetPanel()  # its preview: the canvas image at the next run's size
    window.controlnet_panel.context = lambda: (window.canvas.image(), document.width, document.height)
    area = Qt.DockWidgetArea.RightDockWidgetArea
    docks = [
        window._dock("Prompt", window.prompt_panel, area),
        window._dock("Models", window.models_panel, area),
        window._dock("LoRAs", window.adapters_panel, area),
        window._dock("ControlNet", scrollable(window.controlnet_panel), area),
    ]
    for front, behind in pairwise(docks):
        window.tabifyDockWidget(front, behind)
    docks[0].raise_()
