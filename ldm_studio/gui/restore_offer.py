"""Clicking a gallery result puts it on the canvas and offers, without a dialog, to restore its parameters.

The offer is a button on the window's offer bar ("Restore parameters"); pressing it fills the prompt panel
with the result's prompt, negative prompt, seed (locked, so Generate makes it again), sampler, steps,
guidance, size and model. The model is chosen first: a model change moves a size left at the old model's
own, and the restored size must win.
"""

from __future__ import annotations

from pathlib import Path

from ldm_studio.engine.requests import GenerationRequest
from ldm_studio.gui.jobs.worker import ResultImage
from ldm_studio.gui.panels.model_list import ModelList, model_value

TOPIC = "restore"
BUTTON = "Restore parameters"


def resolve_model(models: ModelList, name: str | None) -> str | None:
    """The document value for the model a request names (a path here, or a file name read from a PNG),
    or None when no usable model of that name is in the list."""
    name = name or ""
    entry = models.entry_for(name)
    if entry is not None and entry.usable:
        return name
    if not name:
        return None
    wanted = Path(name).name
    for entry in models.user_entries:
        if entry.usable and entry.path.name == wanted:
            return model_value(entry)
    return None


def restore_parameters(window, request: GenerationRequest) -> str:
    """Fill the document from `request`; returns what the status bar says."""
    document = window.document
    model = resolve_model(window.models, request.model)
    if model is not None:
        document.model = model
    document.apply_parameters(request)  # keeps model, device and mode; locks the seed
    message = f"Restored the parameters of seed {request.seed}"
    if model is None and request.model:
        name = Path(request.model).name
        message += f"; its model {name} is not in the models folder, the current one stays"
    return message


def offer_restore(window, result: ResultImage) -> None:
    request = result.request
    size = f"{request.width}×{request.height}"
    text = f"Seed {result.seed}, {size}, {request.sampler}: restore its prompt and settings too?"

    def restore() -> None:
        window.status.showMessage(restore_parameters(window, request), 8000)

    window.offers.offer(text, [(BUTTON, restore)], topic=TOPIC)


def install_restore_offer(window) -> None:
    """After a gallery click shows a result on the canvas, offer to restore its parameters."""
    window.gallery.viewRequested.connect(lambda result: offer_restore(window, result))
