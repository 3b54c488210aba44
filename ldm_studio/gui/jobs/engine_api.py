"""The engine as the worker sees it: six calls (model_key, warm_up, load_model, model_status, run,
save_image), injected so tests can script a fake one.

`RealEngine` imports the engine modules only when first used (or when `warm_up` is called, in the
worker thread once the window is up): opening the window stays fast and the GUI package never imports
torch itself. Tests pass a scripted engine (tests/gui/fake_engine.py) with
the same methods, so every widget and worker test runs without a model.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ldm_studio.engine.requests import Event, GenerationRequest


@dataclass(frozen=True)
class ModelStatus:
    """What the status bar says about the loaded model."""

    name: str
    family: str
    device: str
    precision: str


class EngineApi(Protocol):
    def model_key(self, request: GenerationRequest) -> Hashable:
        """Equal keys mean the loaded model can be reused for this request."""

    def warm_up(self) -> None:
        """Do ahead of time the slow imports a first model load would wait for."""

    def load_model(self, request: GenerationRequest) -> Any: ...

    def model_status(self, model: Any) -> ModelStatus: ...

    def run(self, model: Any, request: GenerationRequest, cancel: threading.Event) -> Iterator[Event]: ...

    def save_image(
        self, image: Any, infotext: str, request: GenerationRequest, folder: Path, seed: int
    ) -> Path:
        """Write a PNG with its parameters into `folder` under a new name; return where it went."""


class RealEngine:
    """The engine of ldm_studio.engine, imported on first use."""

    def model_key(self, request: GenerationRequest) -> Hashable:
        from ldm_studio.engine.checkpoints.demo_models import resolve_model_path

        path = resolve_model_path(request.model, request.mode)
        return (str(path), request.device, request.precision, request.prediction, request.vae)

    def warm_up(self) -> None:
        from ldm_studio.engine.runtime.preload import import_engine_modules

        import_engine_modules()

    def load_model(self, request: GenerationRequest) -> Any:
        from ldm_studio.engine.checkpoints.demo_models import resolve_model_path
        from ldm_studio.engine.checkpoints.loading import load_model

        path = resolve_model_path(request.model, request.mode)
        return load_model(
            path,
            device=request.device,
            precision=request.precision,
            prediction=request.prediction,
            vae=request.vae,
        )

    def model_status(self, model: Any) -> ModelStatus:
        from ldm_studio.engine.runtime.devices import precision_name

        return ModelStatus(
            name=model.name,
            family=model.config.label,
            device=str(model.device),
            precision=precision_name(model.dtype),
        )

    def run(self, model: Any, request: GenerationRequest, cancel: threading.Event) -> Iterator[Event]:
        from ldm_studio.engine.pipelines.run import run

        return run(model, request, cancel)

    def save_image(
        self, image: Any, infotext: str, request: GenerationRequest, folder: Path, seed: int
    ) -> Path:
        from ldm_studio.engine.outputs import save_png_atomic

        return save_png_atomic(image, infotext, request, folder, seed=seed)
