"""The generate commands' ControlNet options: `--controlnet FILE:IMAGE[:WEIGHT]` (repeatable) and friends.

FILE is a ControlNet file, or its name in `controlnet/` beside --model (or --controlnet-dir). The
per-unit options `--controlnet-module`, `--controlnet-mode` and `--controlnet-guidance START:END` apply
to the unit of the same position (the first to the first --controlnet, …); units without one get the
default. Images are read here, so a bad one fails before the model loads.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ldm_studio.engine.adapters.controlnet_folder import (
    CONTROLNET_FOLDER,
    CONTROLNET_SUFFIXES,
    resolve_controlnet,
)
from ldm_studio.engine.errors import InputError
from ldm_studio.engine.requests import CONTROL_MODES, CONTROL_MODULES, ControlNetUnit


def add_controlnet_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("ControlNet")
    group.add_argument(
        "--controlnet",
        action="append",
        default=[],
        metavar="FILE:IMAGE[:WEIGHT]",
        help="steer with this ControlNet and control image (weight default 1); repeatable",
    )
    group.add_argument(
        "--controlnet-module",
        action="append",
        default=[],
        choices=CONTROL_MODULES,
        help="preprocessor for the control image (default none: the image is the map); per --controlnet",
    )
    group.add_argument(
        "--controlnet-mode",
        action="append",
        default=[],
        choices=CONTROL_MODES,
        help="balanced (default), prompt (my prompt matters more), control (the ControlNet matters more)",
    )
    group.add_argument(
        "--controlnet-guidance",
        action="append",
        default=[],
        metavar="START:END",
        help="the share of the steps it acts on, e.g. 0:0.6 (default 0:1); per --controlnet",
    )
    group.add_argument(
        "--controlnet-dir",
        default=None,
        help=f"where a ControlNet name is looked up (default: {CONTROLNET_FOLDER}/ beside --model)",
    )


def parse_controlnet_option(text: str) -> tuple[str, str, float]:
    """`FILE:IMAGE` or `FILE:IMAGE:WEIGHT` → (file, image, weight). The file ends at its extension (so
    Windows drive letters and colons in names stay whole); a bare name ends at the first colon."""
    body, weight = text, 1.0
    head, _, tail = text.rpartition(":")
    try:
        weight = float(tail)
        body = head
    except ValueError:
        pass
    lowered = body.lower()
    cut = min((lowered.find(s + ":") + len(s) for s in CONTROLNET_SUFFIXES if s + ":" in lowered), default=-1)
    if cut < 0:
        cut = body.find(":")
    if cut <= 0 or cut >= len(body) - 1:
        raise InputError(f"--controlnet {text}: expected FILE:IMAGE[:WEIGHT]")
    return body[:cut], body[cut + 1 :], weight


def _nth(values: list[str], index: int, default: str) -> str:
    return values[index] if index < len(values) else default


def _guidance(text: str) -> tuple[float, float]:
    start, colon, end = text.partition(":")
    try:
        return float(start), float(end) if colon else 1.0
    except ValueError:
        raise InputError(f"--controlnet-guidance {text}: expected START:END, e.g. 0:0.6") from None


def controlnet_units(args: argparse.Namespace) -> tuple[ControlNetUnit, ...]:
    """The request's ControlNet units from the command line (files resolved, images read)."""
    from ldm_studio.engine.image_files import load_image

    options = getattr(args, "controlnet", None) or []
    if not options:
        return ()
    folder = getattr(args, "controlnet_dir", None)
    if not folder and getattr(args, "model", ""):
        folder = str(Path(args.model).expanduser().parent / CONTROLNET_FOLDER)
    units = []
    for index, option in enumerate(options):
        file, image, weight = parse_controlnet_option(option)
        start, end = _guidance(_nth(args.controlnet_guidance, index, "0:1"))
        units.append(
            ControlNetUnit(
                file=resolve_controlnet(file, folder),
                image=str(Path(image).expanduser()),
                weight=weight,
                start=start,
                end=end,
                mode=_nth(args.controlnet_mode, index, "balanced"),
                module=_nth(args.controlnet_module, index, "none"),
                pixels=load_image(Path(image).expanduser()),
            )
        )
    return tuple(units)
