"""Import ahead of time what a first model load needs, so the first Generate does not wait for it.

A model load imports torch, the networks and transformers' CLIP modules on first use: ~3.5 s of a first
load's ~7.5 s on one core here (SD 1.5-sized, measured in `python -m ldm_studio.bench`). The GUI's
worker thread runs this once the window is up, while the user is still typing a prompt.
"""

from __future__ import annotations

import importlib

MODULES = (
    "ldm_studio.engine.checkpoints.loading",
    "ldm_studio.engine.nets.autoencoder",
    "ldm_studio.engine.nets.text",  # transformers' CLIP model: the slowest by far
    "ldm_studio.engine.nets.unet",
    "ldm_studio.engine.pipelines.run",
)


def import_engine_modules() -> None:
    """Import every module a model load and a first run would otherwise import on the way."""
    for name in MODULES:
        importlib.import_module(name)
    # transformers resolves its classes lazily, and the tokenizer's module path differs between versions.
    from transformers import CLIPTokenizerFast  # noqa: F401
