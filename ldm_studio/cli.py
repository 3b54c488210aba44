"""`ldm-studio`: starts the GUI, or runs a headless sub-command on the same engine.

User errors (bad arguments, unreadable files, unknown checkpoints) print one line and exit non-zero;
a Python traceback is only ever shown for a bug.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from ldm_studio import __version__

EXIT_USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ldm-studio",
        description="Offline desktop studio for latent diffusion models. With no command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"ldm-studio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = sub.add_parser("info", help="describe a checkpoint file without loading its weights")
    info.add_argument("file", help="a .safetensors or .ckpt checkpoint")
    return parser


def _run_gui(args: argparse.Namespace) -> int:
    from ldm_studio.gui.app import main as gui_main

    return gui_main([])


def _run_info(args: argparse.Namespace) -> int:
    from ldm_studio.engine.checkpoint import describe_checkpoint

    print(describe_checkpoint(args.file))
    return 0


COMMANDS: dict[str | None, Callable[[argparse.Namespace], int]] = {
    None: _run_gui,
    "info": _run_info,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("ldm-studio: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # user-facing errors are LdmError; anything else is a bug worth a traceback
        from ldm_studio.engine.errors import LdmError

        if isinstance(exc, LdmError):
            print(f"ldm-studio: error: {exc}", file=sys.stderr)
            return EXIT_USER_ERROR
        raise
