"""Timing two implementations fairly: warm both up, then alternate them (ABBA) and keep every sample.

Alternating in one process means a machine that slows down (another job, thermal limits) slows both
sides alike; ABBA order cancels a steady drift as well. On CUDA the device is synchronised before the
clock is read, never inside the timed work.

Two clocks: "wall" (what a user waits) and "cpu" (CPU seconds of the whole process, every thread). On a
machine shared with other jobs, wall time mostly measures the scheduler; with one torch thread, CPU
time measures the work itself and stays stable.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable

# A task runs once; it may return its own measurement in seconds (e.g. time to the first preview,
# which ends inside the call), otherwise the whole call is timed.
Task = Callable[[], float | None]


def alternate(
    tasks: dict[str, Task],
    *,
    repeats: int,
    warmup: int = 1,
    sync: Callable[[], None] = lambda: None,
    before: dict[str, Callable[[], None]] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Seconds per run of each task: `warmup` untimed runs each, then `repeats` timed runs each, ABBA.

    `before[name]`, when given, runs untimed ahead of every run of that task (e.g. dropping the model
    a load task is about to replace, so freeing gigabytes is not counted as loading).
    """
    before = before or {}
    for _ in range(warmup):
        for name, task in tasks.items():
            before.get(name, lambda: None)()
            task()
            sync()
    samples: dict[str, list[float]] = {name: [] for name in tasks}
    names = list(tasks)
    # A garbage collection costs ~0.1 s with diffusers' object graph in memory: collect once here, and
    # none during the runs, so no side pays for the other's garbage.
    gc.collect()
    gc.disable()
    try:
        for i in range(repeats):
            for name in names if i % 2 == 0 else reversed(names):
                before.get(name, lambda: None)()
                sync()
                start = clock()
                inner = tasks[name]()
                sync()
                elapsed = clock() - start
                samples[name].append(elapsed if inner is None else inner)
    finally:
        gc.enable()
    return samples


CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


def median(samples: list[float] | None) -> float | None:
    return statistics.median(samples) if samples else None


def cuda_sync(device: str) -> Callable[[], None]:
    """A no-op on the CPU; torch.cuda.synchronize on a CUDA device."""
    if not device.startswith("cuda"):
        return lambda: None
    import torch

    return lambda: torch.cuda.synchronize(device)


def set_threads(count: int) -> None:
    """Both sides share torch's intra-op thread pool, so one setting applies to both."""
    import torch

    torch.set_num_threads(count)
