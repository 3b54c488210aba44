"""Opening files in the window: dropped or chosen checkpoints, LoRAs, embeddings and images.

An image opens as an undoable canvas step and brings back the parameters stored in it (refiner, LoRAs
the user lacks, ControlNets) where it has any; anything else gets a one-line notice.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ldm_studio.engine.adapter_scan import adapter_kind
from ldm_studio.engine.errors import InputError
from ldm_studio.engine.metadata.png import read_png_request
from ldm_studio.gui.drop_handler import sort_dropped
from ldm_studio.gui.panels.loras import adapter_folders
from ldm_studio.gui.size_offer import offer_size_choice


def open_paths(window, paths: Sequence[Path]) -> None:
    """Checkpoints join the models folder, LoRAs and embeddings their folders; the first image opens,
    with its parameters if any."""
    dropped = sort_dropped(paths)
    kinds = {path: adapter_kind(path) for path in dropped.models}  # a header read each
    adapters = [(path, kind) for path, kind in kinds.items() if kind is not None]
    if adapters:
        window.adapters_panel.add_files(adapters)
    if checkpoints := [path for path, kind in kinds.items() if kind is None]:
        window.models.add_files(checkpoints)
    if dropped.images:
        open_image(window, dropped.images[0])
    if dropped.others:
        names = ", ".join(p.name for p in dropped.others)
        window.notice.show_error(
            f"{names}: not an image or a checkpoint. Drop a PNG/JPEG/WebP image to open it, "
            "or a .safetensors/.ckpt model to add it."
        )


def open_image(window, path: Path) -> None:
    """The image as a canvas step, with the parameters stored in it."""
    if not window.canvas.open_image_file(path, as_step=True):
        return  # the canvas says why on its banner and keeps what it had
    window._blank_shown = False
    offer_size_choice(window, f"{path.name}")
    try:
        stored = read_png_request(path)
    except InputError:
        stored = None
    if stored is not None:
        window.document.apply_parameters(stored)
        restore_refiner(window, stored.refiner)
        window.status.showMessage(f"Opened {path.name} and restored its parameters", 8000)
        say_missing_loras(window, stored.prompt)
        if missing := window.controlnet_panel.apply_units(stored.controlnets):
            window.notice.show_info(missing)
    else:
        window.status.showMessage(f"Opened {path.name}", 5000)


def restore_refiner(window, name: str | None) -> None:
    """A PNG names its refiner by file stem (A1111's "Refiner:"): choose ours of that name, if any."""
    if not name:
        return
    entry = next((e for e in window.models.user_entries if e.usable and e.name == Path(name).stem), None)
    if entry is not None:
        window.document.refiner = str(entry.path)


def say_missing_loras(window, prompt: str) -> None:
    from ldm_studio.engine.adapters.folders import missing_loras  # torch-free, not the engine's face

    try:
        _, missing = missing_loras(prompt, adapter_folders(window.settings.models_folder)[0])
    except InputError:
        return  # a tag with a weight that is not a number: Generate says so
    if missing:
        window.notice.show_info(
            f"This image used LoRAs you do not have: {', '.join(missing)}. Put them into "
            f"{adapter_folders(window.settings.models_folder)[0]}, or take their tags out of the prompt."
        )
