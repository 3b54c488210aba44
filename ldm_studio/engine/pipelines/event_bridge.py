"""Turn callback-style work (a sampler with a per-step callback) into a generator of events.

Samplers are plain functions that report through a callback, but the pipeline contract is a generator
that yields `Progress`/`Preview` events as they happen. The work runs in a helper thread and its
events cross over through a queue; the consumer sees them in order, then the work's return value.

Helper threads live on and take the next run: a fresh thread per run cost a small model ~10 % of an
image (138 vs 126 ms for the tiny test model's 20 steps): its malloc arena and torch's per-thread
state start cold.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import torch

R = TypeVar("R")

_DONE = object()
_idle_workers: queue.SimpleQueue[queue.SimpleQueue] = queue.SimpleQueue()  # each worker's job queue


class WorkAbandoned(Exception):
    """Raised inside the work when its consumer stopped listening (the generator was closed)."""


def _worker(jobs: queue.SimpleQueue) -> None:
    while True:
        job, finished = jobs.get()
        try:
            job()
        finally:
            del job  # an idle thread must not keep the last run's closure (and its model) alive
            _idle_workers.put(jobs)  # idle again before the consumer hears the work is over
            finished()
            del finished


def _start(job: Callable[[], None], finished: Callable[[], None]) -> None:
    """Run `job` on an idle helper thread (a new one when all are busy), then call `finished`."""
    try:
        jobs = _idle_workers.get_nowait()
    except queue.Empty:
        jobs = queue.SimpleQueue()
        threading.Thread(target=_worker, args=(jobs,), name="ldm-studio-sampler", daemon=True).start()
    jobs.put((job, finished))


def run_with_events(
    work: Callable[[Callable[[Any], None], threading.Event], R],
) -> Generator[Any, None, R]:
    """Run `work(emit, abandoned)` in a helper thread, yield whatever it emits, and return its result.

    `abandoned` is set when the consumer closes the generator early; the work should check it before
    each expensive call (the pipeline's cancel check does) so the thread is free again promptly.
    """
    events: queue.SimpleQueue = queue.SimpleQueue()
    abandoned = threading.Event()
    outcome: dict[str, Any] = {}
    threads = torch.get_num_threads()  # the caller's: an older helper thread may still run with another

    def job() -> None:
        try:
            torch.set_num_threads(threads)
            with torch.inference_mode():
                outcome["value"] = work(events.put, abandoned)
        except BaseException as exc:  # handed to the consumer thread, which re-raises it
            outcome["error"] = exc

    _start(job, lambda: events.put(_DONE))
    finished = False
    try:
        while (item := events.get()) is not _DONE:
            yield item
        finished = True
    finally:
        abandoned.set()
        if not finished:  # closed early: wait until the work has stopped
            while events.get() is not _DONE:
                pass
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
