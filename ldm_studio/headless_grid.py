"""`ldm-studio grid`: an X/Y/Z plot on a terminal, on the same engine path as `generate`.

Every axis value is checked before a model is loaded (a bad one: one line, exit 2, nothing written).
Each cell is saved as an ordinary image with its own parameters as soon as it is done: into
`<grid name>-cells/` beside a grid file, or into the output folder itself when --out is a folder; the
grid image is written last. Ctrl+C stops the grid: the finished cells stay, no grid is written.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from ldm_studio.engine.grids.axes import ModelFacts
from ldm_studio.engine.grids.plan import GridPlan
from ldm_studio.engine.requests import GenerationRequest


def add_grid_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("grid axes", "each NAME=V1,V2,… (CSV quoting; ranges 1-5, 10-30 (+10))")
    names = (
        "seed, cfg, steps, sampler, schedule, model, lora_weight (NAME:W1,W2), size (WxH), denoise, prompt_sr"
    )
    group.add_argument("--x", default=None, metavar="AXIS", help=f"the columns; NAME is one of {names}")
    group.add_argument("--y", default=None, metavar="AXIS", help="the rows")
    group.add_argument("--z", default=None, metavar="AXIS", help="one grid per value, side by side")
    group.add_argument(
        "--models-dir",
        default=None,
        metavar="DIR",
        help="where model=NAME values are looked for (default: the folder of --model)",
    )


def _family(path: str, mode: str):
    from ldm_studio.engine.checkpoints.demo_models import resolve_model_path
    from ldm_studio.engine.checkpoints.inspection import inspect_checkpoint

    return inspect_checkpoint(resolve_model_path(path, mode)).config


def describe_model(path: str, mode: str) -> ModelFacts:
    """A checkpoint's size multiple and modes from its header (no weights read)."""
    family = _family(path, mode)
    # As pipelines.run.size_multiple: the VAE's factor times the UNet's downsamplings.
    multiple = family.vae.downscale * 2 ** (len(family.unet.channel_mult) - 1)
    return ModelFacts(multiple, tuple(family.modes), family.label)


def plan_from_args(args: argparse.Namespace) -> GridPlan:
    """The base request (with the base model's defaults, read from its header) and its cells."""
    from ldm_studio.engine.checkpoints.demo_models import demo_model_path
    from ldm_studio.engine.errors import InputError
    from ldm_studio.engine.grids.plan import build_plan
    from ldm_studio.engine.validation import check_limits
    from ldm_studio.headless import _with_model_defaults, request_from_args  # generate's own rules

    for side in ("width", "height"):
        value = getattr(args, side, None)
        if value is not None and value <= 0:
            raise InputError(f"--{side} {value}: give a positive size, or leave it out for the model's own")
    base = request_from_args(args)
    check_limits(base)
    mode = base.mode
    base = _with_model_defaults(
        base, _family(base.model, mode), cfg_given=args.cfg is not None, noise_given=False
    )
    default_folder = Path(args.model).expanduser().parent if args.model else demo_model_path(mode).parent
    return build_plan(
        base,
        args.x,
        args.y,
        args.z,
        models_folder=args.models_dir or default_folder,
        describe_model=lambda path: describe_model(path, mode),
    )


def _load(request: GenerationRequest):
    from ldm_studio.engine.checkpoints.demo_models import resolve_model_path
    from ldm_studio.engine.checkpoints.loading import load_model

    return load_model(
        resolve_model_path(request.model, request.mode),
        device=request.device,
        precision=request.precision,
        prediction=request.prediction,
        vae=request.vae,
    )


def run_grid_command(args: argparse.Namespace) -> int:
    from ldm_studio.engine.grids.run import (
        CellDone,
        CellEvent,
        CellStarted,
        GridCancelled,
        GridDone,
        cells_folder_for,
        run_grid,
    )
    from ldm_studio.engine.outputs import check_destination
    from ldm_studio.engine.pipelines.run import run
    from ldm_studio.engine.requests import Progress
    from ldm_studio.progress import ProgressBar

    check_destination(args.out)
    plan = plan_from_args(args)  # before any model is loaded: a bad axis value costs nothing
    out = Path(args.out).expanduser()
    cells_folder = out if out.is_dir() or not out.suffix else cells_folder_for(out)
    cancel = threading.Event()
    bar: ProgressBar | None = None
    notes: list[str] = []
    events = run_grid(
        plan, load_model=_load, run=run, cancel=cancel, cells_folder=cells_folder, grid_path=out
    )
    try:
        for event in events:
            if isinstance(event, CellStarted):
                where = ", ".join(label for label in event.cell.labels if label)
                bar = ProgressBar(
                    event.cell.request.steps, label=f"cell {event.position + 1}/{event.total} {where} "
                )
            elif isinstance(event, CellEvent) and isinstance(event.event, Progress) and bar is not None:
                bar.total = event.event.total
                bar.update(event.event.step)
            elif isinstance(event, CellDone):
                if bar is not None:
                    bar.close()
                notes += [note for note in event.notes if note not in notes]
                print(event.path)
            elif isinstance(event, GridDone):
                for note in notes:
                    print(f"ldm-studio: warning: {note}", file=sys.stderr)
                print(event.path)
                return 0
            elif isinstance(event, GridCancelled):
                break
    except KeyboardInterrupt:
        cancel.set()
        events.close()
    finally:
        if bar is not None:
            bar.close()
    print(
        f"ldm-studio: cancelled; the finished cells are in {cells_folder}, no grid was written",
        file=sys.stderr,
    )
    return 130
