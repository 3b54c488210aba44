"""Live mode's latency: `python -m ldm_studio.bench.live [--threads 2] [--steps 20 4] [--device cpu]`.

With the bundled demo model (or `--model FILE`), each sample is one prompt edit run as live mode runs
it (jobs/live_settings.py: one image, a preview after every step; the prompt differs every time, so
the text is encoded again): the time from the edit to the first preview, and to the final image.
Two rows per step count: "idle" (nothing was running) and "while running" (the edit arrives while the
previous live image is half-way: it is cancelled, and the new run starts once the old one has stopped,
as the window's worker does). The GUI waits `DEBOUNCE_MS` after the last key before any of this; the
totals with it are printed too. Goal: ≤ 0.5 s from the edit to the first preview.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GOAL_S = 0.5
DEBOUNCE_S = 0.3  # gui/live_mode.py DEBOUNCE_MS (not imported: the bench must not import Qt)
PROMPTS = ("a red circle", "a red circle on blue", "a green square", "two yellow squares", "a blue circle")


@dataclass(frozen=True)
class Row:
    name: str
    first_preview: list[float]
    final: list[float]

    def line(self) -> str:
        def median(samples: list[float]) -> str:
            return f"{statistics.median(samples):7.3f} s" if samples else "      —  "

        return f"  {self.name:34s} {median(self.first_preview)} {median(self.final)}"


def _timed_run(model: Any, request: Any, cancel: threading.Event, start: float) -> tuple[float, float]:
    """Seconds from `start` to the first preview and to the Result (nan when cancelled first)."""
    from ldm_studio.engine.pipelines.run import run
    from ldm_studio.engine.requests import Preview, Result

    first = final = float("nan")
    for event in run(model, request, cancel):
        if isinstance(event, Preview) and first != first:
            first = time.perf_counter() - start
        elif isinstance(event, Result):
            final = time.perf_counter() - start
    return first, final


def _run_until_cancelled(
    model: Any, request: Any, cancel: threading.Event, half_way: threading.Event, previews: int
) -> None:
    """The previous live image: it runs until cancelled, saying when `previews` previews are out."""
    from ldm_studio.engine.pipelines.run import run
    from ldm_studio.engine.requests import Preview

    seen = 0
    for event in run(model, request, cancel):
        seen += isinstance(event, Preview)
        if seen >= previews:
            half_way.set()
    half_way.set()


def measure(model: Any, base: Any, repeats: int) -> tuple[Row, Row]:
    """(idle, while running) rows for live edits of `base`'s prompt."""
    from ldm_studio.gui.jobs.live_settings import live_settings

    def edit(i: int) -> Any:
        return live_settings(base.replace(prompt=PROMPTS[i % len(PROMPTS)], seed=i)).request

    _timed_run(model, edit(0), threading.Event(), time.perf_counter())  # warm-up: first-call costs
    idle = Row("idle", [], [])
    for i in range(repeats):
        first, final = _timed_run(model, edit(i + 1), threading.Event(), time.perf_counter())
        idle.first_preview.append(first)
        idle.final.append(final)

    busy = Row("while running (cancels the last)", [], [])
    for i in range(repeats):
        cancel, half_way = threading.Event(), threading.Event()
        args = (model, edit(i + 7), cancel, half_way, max(1, base.steps // 2))
        worker = threading.Thread(target=_run_until_cancelled, args=args)
        worker.start()
        half_way.wait()
        start = time.perf_counter()  # the edit
        cancel.set()
        worker.join()  # the window's worker runs one job at a time: the new one waits for the old to stop
        first, final = _timed_run(model, edit(i + 1), threading.Event(), start)
        busy.first_preview.append(first)
        busy.final.append(final)
    return idle, busy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ldm_studio.bench.live", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--steps", type=int, nargs="+", default=[20, 4], help="step counts to measure")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    parser.add_argument("--model", type=Path, help="a checkpoint (default: the bundled demo model)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch

    from ldm_studio.engine.checkpoints.demo_models import resolve_model_path
    from ldm_studio.engine.checkpoints.loading import load_model
    from ldm_studio.engine.requests import GenerationRequest

    if args.device == "cpu" or not torch.cuda.is_available():
        torch.set_num_threads(args.threads)
    path = resolve_model_path(str(args.model or ""), "txt2img")
    model = load_model(path, device=args.device)
    width, height = model.config.default_size
    print(
        f"live mode latency: {model.name} ({model.config.label}), {width}×{height}, device {model.device},"
        f" {torch.get_num_threads()} CPU threads, load average {os.getloadavg()[0]:.1f}"
        f" on {os.cpu_count()} CPUs"
    )
    print(f"  {'':34s} {'first preview':>9s} {'final':>9s}   (medians of {args.repeats}; after the debounce)")
    worst = 0.0
    for steps in args.steps:
        base = GenerationRequest(
            prompt=PROMPTS[0],
            steps=steps,
            width=width,
            height=height,
            cfg_scale=model.config.default_cfg_scale,
            device=args.device,
        )
        print(f" {steps} steps, sampler {base.sampler}, CFG {base.cfg_scale:g}:")
        for row in measure(model, base, args.repeats):
            print(row.line())
            worst = max(worst, statistics.median(row.first_preview))
    total = worst + DEBOUNCE_S
    verdict = "meets" if worst <= GOAL_S else "MISSES"
    print(
        f"worst median edit → first preview {worst:.3f} s: {verdict} the {GOAL_S:g} s goal"
        f" ({total:.3f} s counting the GUI's {DEBOUNCE_S:g} s debounce after the last key)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
