"""A scripted stand-in for the engine, so worker and window tests run in milliseconds without a model.

It follows the real contract (`run` yields Progress / Preview / Result, checks `cancel` before every
step, raises LdmError for bad input) and records what it was asked to do. Knobs let a test make a run
slow, CPU-heavy, paused at a step, or failing. The real-engine end-to-end tests live in tests/e2e.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ldm_studio.engine.errors import CheckpointError
from ldm_studio.engine.metadata import format_infotext
from ldm_studio.engine.requests import Cancelled, Event, GenerationRequest, Preview, Progress, Result
from ldm_studio.gui.jobs.engine_api import ModelStatus, RealEngine


@dataclass
class FakeModel:
    key: Hashable
    name: str


def image_for_seed(seed: int, width: int, height: int) -> Image.Image:
    """A flat image whose colour tells which seed made it."""
    colour = (seed * 37 % 256, seed * 91 % 256, 200)
    return Image.fromarray(np.full((height, width, 3), colour, dtype=np.uint8))


@dataclass
class ScriptedEngine:
    step_seconds: float = 0.0  # sleep per step (the GIL is free while sleeping)
    cpu_seconds: float = 0.0  # pure-Python busy work per step (holds the GIL: the worst case for the GUI)
    array_seconds: float = 0.0  # numpy work per step (frees the GIL inside each operation, as torch does)
    pause_at_step: int | None = None  # wait for `gate` before this step
    gate: threading.Event = field(default_factory=threading.Event)
    bad_models: set[str] = field(default_factory=set)  # model paths that fail to load
    run_error: BaseException | None = None  # raised at the first step
    loads: list[Hashable] = field(default_factory=list)
    runs: list[GenerationRequest] = field(default_factory=list)
    reached_pause: threading.Event = field(default_factory=threading.Event)
    run_thread_ids: list[int] = field(default_factory=list)  # OS thread ids the runs happened on
    warm_up_thread_ids: list[int] = field(default_factory=list)  # likewise for warm_up
    warm_up_error: BaseException | None = None
    notes: list[str] = field(default_factory=list)  # Result.notes of every run
    stage_after_step: int | None = None  # later steps report stage "hires fix" (a two-pass run)

    def warm_up(self) -> None:
        self.warm_up_thread_ids.append(threading.get_native_id())
        if self.warm_up_error is not None:
            raise self.warm_up_error

    def model_key(self, request: GenerationRequest) -> Hashable:
        return (request.model or f"demo-{request.mode}", request.device, request.precision)

    def load_model(self, request: GenerationRequest) -> FakeModel:
        if request.model in self.bad_models:
            raise CheckpointError(f"{Path(request.model).name}: not a checkpoint (no UNet weights found)")
        key = self.model_key(request)
        self.loads.append(key)
        return FakeModel(key, Path(request.model).stem if request.model else "demo")

    def model_status(self, model: FakeModel) -> ModelStatus:
        return ModelStatus(name=model.name, family="demo", device="cpu", precision="float32")

    def run(self, model: FakeModel, request: GenerationRequest, cancel: threading.Event) -> Iterator[Event]:
        self.runs.append(request)
        self.run_thread_ids.append(threading.get_native_id())
        total = request.steps
        width, height = request.width, request.height
        for step in range(total):
            if step == self.pause_at_step:
                self.reached_pause.set()
                while not self.gate.wait(0.005):
                    if cancel.is_set():
                        break
            if cancel.is_set():
                yield Cancelled(step, total)
                return
            if self.run_error is not None:
                raise self.run_error
            self._work()
            late = self.stage_after_step is not None and step >= self.stage_after_step
            yield Progress(step + 1, total, "hires fix" if late else "")
            if request.preview_interval and (step + 1) % request.preview_interval == 0:
                level = int(255 * (step + 1) / total)
                preview = np.full((height // 2, width // 2, 3), level, dtype=np.uint8)
                yield Preview(step + 1, total, preview, None)
        seeds = [request.for_image(i).seed for i in range(request.batch_size)]  # seed + i, as the engine
        images = [image_for_seed(seed, width, height) for seed in seeds]
        infotexts = [format_infotext(request, seed=seed, model_name=model.name) for seed in seeds]
        yield Result(images, infotexts, seeds, list(self.notes))

    def _work(self) -> None:
        if self.step_seconds:
            time.sleep(self.step_seconds)
        deadline = time.perf_counter() + self.cpu_seconds
        total = 0
        while time.perf_counter() < deadline:
            total += sum(i * i for i in range(2000))
        deadline = time.perf_counter() + self.array_seconds
        latent = np.ones((4, 256, 256), np.float32)
        while time.perf_counter() < deadline:
            latent = np.tanh(latent * 0.5 + np.sqrt(latent * latent + 1.0))

    def save_image(
        self, image: Any, infotext: str, request: GenerationRequest, folder: Path, seed: int
    ) -> Path:
        return RealEngine().save_image(image, infotext, request, folder, seed)  # the real, atomic save
