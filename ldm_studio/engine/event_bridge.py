"""Turn callback-style work (a sampler with a per-step callback) into a generator of events.

Samplers are plain functions that report through a callback, but the pipeline contract is a generator
that yields `Progress`/`Preview` events as they happen. The work runs in a helper thread and its
events cross over through a queue; the consumer sees them in order, then the work's return value.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import torch

R = TypeVar("R")

_DONE = object()


class WorkAbandoned(Exception):
    """Raised inside the work when its consumer stopped listening (the generator was closed)."""


def run_with_events(
    work: Callable[[Callable[[Any], None], threading.Event], R],
) -> Generator[Any, None, R]:
    """Run `work(emit, abandoned)` in a thread, yield whatever it emits, and return its result.

    `abandoned` is set when the consumer closes the generator early; the work should check it before
    each expensive call (the pipeline's cancel check does) so the thread ends promptly.
    """
    events: queue.Queue = queue.Queue()
    abandoned = threading.Event()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            with torch.inference_mode():
                outcome["value"] = work(events.put, abandoned)
        except BaseException as exc:  # handed to the consumer thread, which re-raises it
            outcome["error"] = exc
        finally:
            events.put(_DONE)

    thread = threading.Thread(target=target, name="ldm-studio-sampler", daemon=True)
    thread.start()
    try:
        while (item := events.get()) is not _DONE:
            yield item
    finally:
        abandoned.set()
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
