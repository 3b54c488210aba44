"""The bundled demo models: what an empty model choice means, per mode."""

from __future__ import annotations

from pathlib import Path

from ldm_studio.resources import resource_path

DEMO_TXT2IMG = "demo-txt2img.safetensors"
DEMO_UPSCALER = "demo-upscaler.safetensors"


def demo_model_path(mode: str) -> Path:
    """The bundled model used when the user has not chosen one."""
    return resource_path("models", DEMO_UPSCALER if mode == "upscale" else DEMO_TXT2IMG)


def resolve_model_path(model: str, mode: str) -> Path:
    """The checkpoint a request names, or the bundled demo model for its mode when it names none."""
    return Path(model).expanduser() if model else demo_model_path(mode)
