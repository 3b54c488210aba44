"""Ours against diffusers on the same weights: `python -m ldm_studio.bench [--quick] [--config NAME ...]`.

In one process, alternating the two sides, it prints medians and ratios for: the UNet step with CFG
(batch 2), a full txt2img (text encoding, sampling, VAE decode, PIL images), the VAE decode alone,
checkpoint load, the time from Generate to the first live preview, and the peak memory of each phase
(measured in a fresh process per side). Configurations: `tiny` (seconds; `--quick` runs only this),
`sd15-cpu` (SD 1.5 shapes, random weights, 256², few steps) and, where CUDA is present, `sd15-cuda`
(512², fp16, 20 steps). Without diffusers installed ours is still timed and the comparison is skipped.
Other benchmarks: `python -m ldm_studio.bench.load` (load speed vs raw reads), `.bench.canvas`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

from ldm_studio.bench.compare import ConfigResult, run_config
from ldm_studio.bench.report import RATIO_NOTE, load_average, machine, markdown_table, text_table
from ldm_studio.bench.spec import CONFIGS


def _default_configs() -> list[str]:
    import torch

    return ["tiny", "sd15-cpu"] + (["sd15-cuda"] if torch.cuda.is_available() else [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ldm_studio.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the tiny configuration only (under a minute)")
    parser.add_argument("--config", nargs="+", choices=sorted(CONFIGS), help="configurations to run")
    parser.add_argument(
        "--repeats", type=int, help="timed runs per side and row (default: per configuration)"
    )
    parser.add_argument("--steps", type=int, help="sampling steps of the txt2img rows (default: per config)")
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        help="image sides for the plot (default: per configuration, with --plot)",
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads for both sides (default: torch's choice)"
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time, or process CPU time (shared machines)",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    parser.add_argument("--channels-last", action="store_true", help="both sides in channels_last")
    parser.add_argument("--compile", action="store_true", help="torch.compile both UNets")
    parser.add_argument("--workdir", type=Path, help="keep (and reuse) the written checkpoints here")
    parser.add_argument("--markdown", type=Path, help="also write the tables as Markdown here")
    parser.add_argument("--json", type=Path, help="also write every number as JSON here")
    parser.add_argument("--plot", type=Path, help="also plot seconds per image vs resolution (PNG)")
    args = parser.parse_args(argv)
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        parser.error("--plot needs matplotlib, which is not installed (pip install matplotlib)")

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is local; never reach a model hub
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # before transformers is first imported
    names = ["tiny"] if args.quick else (args.config or _default_configs())
    if args.threads:
        from ldm_studio.bench.timing import set_threads

        set_threads(args.threads)
    info = machine()
    print(", ".join(f"{k}: {v}" for k, v in info.items()), flush=True)
    results: list[ConfigResult] = []
    for name in names:
        spec = CONFIGS[name].replace(
            channels_last=args.channels_last, compile=args.compile, threads=args.threads, clock=args.clock
        )
        overrides = {"repeats": args.repeats, "step_repeats": args.repeats, "steps": args.steps}
        spec = spec.replace(**{k: v for k, v in overrides.items() if v is not None})
        if args.sizes:
            spec = spec.replace(plot_sizes=tuple(args.sizes))
        elif not args.plot:  # the other sizes only feed the plot
            spec = spec.replace(plot_sizes=())
        if spec.is_cuda and "gpu" not in info:
            print(f"{name}: skipped, CUDA is not available here")
            continue
        before = load_average()
        result = run_config(spec, workdir=args.workdir, with_memory=not args.no_memory, log=_logger())
        result.notes.append(f"load average (1/5/15 min) before: {before}, after: {load_average()}")
        results.append(result)
        print("\n" + text_table(result) + "\n", flush=True)

    if args.markdown:
        text = "\n\n".join(markdown_table(r) for r in results)
        args.markdown.write_text(f"{', '.join(f'{k}: {v}' for k, v in info.items())}\n\n{text}\n")
    if args.json:
        payload = {"machine": info, "note": RATIO_NOTE, "results": [_as_json(r) for r in results]}
        args.json.write_text(json.dumps(payload, indent=1))
    if args.plot and results:
        from ldm_studio.bench.plot import plot_seconds_per_image

        print(f"plot: {plot_seconds_per_image(results, args.plot)}")
    return 0


def _logger():
    """Progress lines with the seconds since the configuration started."""
    started = time.perf_counter()

    def log(line: str) -> None:
        print(f"  [{time.perf_counter() - started:4.0f} s] {line}", flush=True)

    return log


def _as_json(result: ConfigResult) -> dict:
    return {
        "spec": asdict(result.spec),
        "compared": result.compared,
        "rows": [{**asdict(row), "ratio": row.ratio} for row in result.rows],
        "seconds_per_image": result.seconds_per_image,
        "notes": result.notes,
    }


if __name__ == "__main__":
    raise SystemExit(main())
