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
_SOFT_HELP = "soft inpainting: grey mask values are per-pixel strength (Differential Diffusion)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ldm-studio",
        description="Offline desktop studio for latent diffusion models. With no command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"ldm-studio {__version__}")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check this installation headless on the bundled demo models, print one line, and exit",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = sub.add_parser("info", help="describe a checkpoint file without loading its weights")
    info.add_argument("file", help="a .safetensors or .ckpt checkpoint")
    _add_generation_commands(sub)
    return parser


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", default="", help="checkpoint file (default: the bundled demo model)")
    group.add_argument("--vae", default=None, help="a separate VAE file replacing the checkpoint's")
    group.add_argument("--prediction", choices=("eps", "v", "x0"), default=None, help="override detection")
    group.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    from ldm_studio.engine.requests import PRECISIONS

    group.add_argument("--precision", default="auto", choices=PRECISIONS)
    adapters = parser.add_argument_group("LoRAs and embeddings")
    adapters.add_argument(
        "--lora",
        action="append",
        default=[],
        metavar="FILE[:M[:M_UNET]]",
        help="merge this LoRA with multiplier M (default 1; M_UNET: the UNet's own); repeatable. "
        "<lora:NAME:M> in --prompt works too",
    )
    adapters.add_argument(
        "--lora-dir", default=None, help="where <lora:NAME> looks (default: loras/ beside --model)"
    )
    adapters.add_argument(
        "--embeddings",
        default=None,
        metavar="DIR",
        help="textual-inversion files, used by their name in a prompt (default: embeddings/ beside --model)",
    )
    from ldm_studio.controlnet_args import add_controlnet_options

    add_controlnet_options(parser)


def _add_sampling_options(parser: argparse.ArgumentParser, *, steps: int) -> None:
    from ldm_studio.engine.requests import SAMPLERS, SCHEDULES

    group = parser.add_argument_group("sampling")
    group.add_argument("--prompt", default="", help="what to draw")
    group.add_argument("--negative", default="", help="what to avoid")
    group.add_argument("--seed", type=int, default=None, help="random seed (default: a random one)")
    group.add_argument(
        "--variation-seed",
        type=int,
        default=None,
        help="variations: the start noise bends towards this seed's (image i of a batch: seed + i)",
    )
    group.add_argument(
        "--variation-strength",
        type=float,
        default=None,
        metavar="S",
        help="0..1, how far towards --variation-seed (default 0.25; alone: a random variation seed)",
    )
    group.add_argument("--steps", type=int, default=steps)
    group.add_argument(
        "--cfg", type=float, default=None, help="classifier-free guidance scale (default: the model's own)"
    )
    group.add_argument(
        "--cfg-rescale",
        type=float,
        default=0.0,
        metavar="PHI",
        help="CFG rescale 0..1: guided predictions keep the conditional one's spread (0.7 for zero-SNR)",
    )
    group.add_argument("--sampler", choices=SAMPLERS, default="euler")
    group.add_argument("--schedule", choices=SCHEDULES, default="normal")
    group.add_argument("--batch", type=int, default=1, help="images per run")
    group.add_argument(
        "--empty-negative",
        choices=("auto", "zeros", "encode"),
        default="auto",
        help='SDXL with no --negative: zeros (diffusers) or the encoded "" (ComfyUI, A1111); '
        'auto: zeros, but the encoded "" for the refiner',
    )
    group.add_argument(
        "--out",
        required=True,
        help="output .png, .jpg or .webp, or a folder; an existing file is never overwritten",
    )


def _add_hires_options(parser: argparse.ArgumentParser) -> None:
    from ldm_studio.engine.requests import HIRES_UPSCALERS

    group = parser.add_argument_group("hires fix (txt2img: a second pass at a larger size)")
    group.add_argument(
        "--hires-scale", type=float, default=None, metavar="X", help="turn hires fix on: upscale by X (1-4)"
    )
    group.add_argument(
        "--hires-upscaler",
        default=None,
        metavar="NAME",
        help=f"{', '.join(HIRES_UPSCALERS)} (default latent), or an x4 upscaler checkpoint file",
    )
    group.add_argument("--hires-steps", type=int, default=None, help="second-pass steps (default: --steps)")
    group.add_argument(
        "--hires-denoise", type=float, default=None, metavar="S", help="second-pass denoising strength (0.5)"
    )


def _add_generation_commands(sub: argparse._SubParsersAction) -> None:
    generate = sub.add_parser("generate", help="text-to-image (or image-to-image with --init-image)")
    _add_model_options(generate)
    _add_sampling_options(generate, steps=20)
    generate.add_argument("--width", type=int, default=None, help="default: the model's native size")
    generate.add_argument("--height", type=int, default=None)
    generate.add_argument("--init-image", default=None, help="start from this image (image-to-image)")
    generate.add_argument("--strength", type=float, default=0.75, help="how much of --init-image to redo")
    generate.add_argument(
        "--refiner", default=None, metavar="FILE", help="SDXL: this refiner finishes the base's image"
    )
    _add_hires_options(generate)
    generate.add_argument(
        "--refiner-switch", type=float, default=0.8, help="share of the steps the base runs (default 0.8)"
    )

    from ldm_studio.headless_grid import add_grid_options

    # Every generate option (parents= copies them), plus the axes.
    grid = sub.add_parser(
        "grid", parents=[generate], add_help=False, help="an X/Y/Z plot: one labelled grid, every cell saved"
    )
    add_grid_options(grid)

    inpaint = sub.add_parser("inpaint", help="repaint the white area of a mask")
    _add_model_options(inpaint)
    _add_sampling_options(inpaint, steps=20)
    inpaint.add_argument("--image", required=True)
    inpaint.add_argument("--mask", required=True, help="same size as --image; white = repaint")
    inpaint.add_argument("--strength", type=float, default=1.0)
    inpaint.add_argument("--mask-blur", type=int, default=4, help="feather radius in pixels")
    inpaint.add_argument("--only-masked", action="store_true", help="work on a crop around the mask")
    inpaint.add_argument("--padding", type=int, default=32, help="context pixels around the crop")
    inpaint.add_argument("--soft", action="store_true", help=_SOFT_HELP)

    outpaint = sub.add_parser("outpaint", help="extend the image past its borders and paint the new area")
    _add_model_options(outpaint)
    _add_sampling_options(outpaint, steps=20)
    outpaint.add_argument("--image", required=True)
    for side in ("left", "right", "top", "bottom"):
        outpaint.add_argument(
            f"--{side}", type=int, default=0, metavar="PX", help=f"pixels added on the {side}"
        )
    outpaint.add_argument("--fill", default="edge", help="pre-fill of the new area: edge, blur or noise")
    outpaint.add_argument(
        "--overlap", type=int, default=32, metavar="PX", help="how far the mask reaches back over the image"
    )
    outpaint.add_argument("--strength", type=float, default=1.0)
    outpaint.add_argument("--mask-blur", type=int, default=4, help="feather radius in pixels")
    outpaint.add_argument(
        "--only-masked",
        action="store_true",
        help="work on a crop around the new area (on by itself for a canvas larger than the model's size)",
    )
    outpaint.add_argument("--padding", type=int, default=32, help="context pixels around the crop")
    outpaint.add_argument("--soft", action="store_true", help=_SOFT_HELP)

    upscale = sub.add_parser("upscale", help="4x super-resolution")
    _add_model_options(upscale)
    _add_sampling_options(upscale, steps=50)
    upscale.add_argument("--image", required=True)
    upscale.add_argument(
        "--noise-level", type=int, help="noise added to the input (0-350; default: the model's own, SD's 20)"
    )


def _run_gui(args: argparse.Namespace) -> int:
    from ldm_studio.engine.errors import ResourceError
    from ldm_studio.self_test import check_resources

    try:
        check_resources()  # a damaged install names the missing file instead of failing somewhere later
    except ResourceError as exc:
        print(f"ldm-studio: error: {exc}", file=sys.stderr)
        _show_startup_error(str(exc))
        return EXIT_USER_ERROR
    from ldm_studio.gui.app import main as gui_main

    return gui_main([])


def _show_startup_error(message: str) -> None:
    """Say it in a dialog too: a double-clicked app has no terminal. Only where there is a screen, since
    Qt aborts the process when it cannot open one (and the message is already printed)."""
    import os

    no_screen = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    if no_screen or os.environ.get("QT_QPA_PLATFORM", "").startswith(("offscreen", "minimal")):
        return
    from PySide6.QtWidgets import QApplication, QMessageBox

    _app = QApplication.instance() or QApplication([sys.argv[0]])
    QMessageBox.critical(None, "ldm-studio", message)


def _run_info(args: argparse.Namespace) -> int:
    from ldm_studio.info import describe_checkpoint

    print(describe_checkpoint(args.file))
    return 0


def _run_grid(args: argparse.Namespace) -> int:
    from ldm_studio.headless_grid import run_grid_command

    return run_grid_command(args)


def _run_generation(args: argparse.Namespace) -> int:
    from ldm_studio.headless import run_generation_command

    return run_generation_command(args)


COMMANDS: dict[str | None, Callable[[argparse.Namespace], int]] = {
    None: _run_gui,
    "info": _run_info,
    "generate": _run_generation,
    "inpaint": _run_generation,
    "outpaint": _run_generation,
    "upscale": _run_generation,
    "grid": _run_grid,
}


def _run_self_test(args: argparse.Namespace) -> int:
    from ldm_studio.self_test import run_self_test

    try:
        print(run_self_test())
    except AssertionError as exc:
        print(f"ldm-studio: self-test failed: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.self_test:
            return _run_self_test(args)
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
