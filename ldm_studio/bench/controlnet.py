"""One ControlNet's step cost, ours against diffusers on the same weights: `python -m
ldm_studio.bench.controlnet [--shapes sd15|tiny] [--size 256] [--repeats 3] [--threads N] [--json F]`.

Random SD 1.5-sized weights (UNet and a ControlNet, fp32, CPU) are made once on our side; diffusers'
UNet2DConditionModel and ControlNetModel get the very same tensors (through diffusers' converters,
assigned without a copy), so the two sides cost one set of weights and compute the same thing. Rows,
each a median of alternating (ABBA) runs of one CFG step (batch 2 at size², the control image 8x):
- "UNet step": the UNet alone, for reference;
- "UNet + ControlNet step": the ControlNet's residuals, then the UNet that adds them;
- "ControlNet alone": the step's extra cost.
By default the clock is the process's CPU time (with `--threads 1` the work itself, stable on a machine
shared with other jobs, where wall time measures the scheduler); `--clock wall` for what a user waits.
Peak memory of one step with the ControlNet (VmHWM, weights included) is measured for each side in a
fresh process of its own that holds only that side's nets.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch

from ldm_studio.bench.timing import CLOCKS, alternate, median, set_threads


def _configs(shapes: str):
    from ldm_studio.engine.checkpoints.families import KNOWN_FAMILIES
    from ldm_studio.engine.nets.configs import ControlNetConfig

    if shapes == "tiny":
        from ldm_studio.bench.tiny import tiny_sd1_family

        unet = tiny_sd1_family().unet
    else:
        unet = KNOWN_FAMILIES["sd1"].unet
    return unet, ControlNetConfig(unet=unet)


def _ours(shapes: str, seed: int = 0):
    """Our UNet and ControlNet with random weights (normal init, fixed seed), eval, no grad."""
    from ldm_studio.engine.nets.controlnet import ControlNet
    from ldm_studio.engine.nets.unet import UNetModel

    unet_config, cn_config = _configs(shapes)
    torch.manual_seed(seed)
    unet, control = UNetModel(unet_config), ControlNet(cn_config)
    return unet.eval().requires_grad_(False), control.eval().requires_grad_(False)


def _theirs(unet, control, shapes: str):
    """diffusers' nets holding the same tensors as ours (renamed by diffusers' converters, no copy)."""
    from ldm_studio.bench import reference
    from ldm_studio.engine.checkpoints.families import KNOWN_FAMILIES

    unet_config, _ = _configs(shapes)
    vae = KNOWN_FAMILIES["sd1"].vae
    checkpoint = {"model.diffusion_model." + k: v for k, v in unet.state_dict().items()}
    their_unet = reference.diffusers_unet(checkpoint, unet_config, vae)
    convert = reference._converters()
    cn_checkpoint = {"control_model." + k: v for k, v in control.state_dict().items()}
    unet_keys = convert.create_unet_diffusers_config_from_ldm(
        reference.original_config(unet_config, vae), checkpoint
    )
    keys = (
        "in_channels", "down_block_types", "block_out_channels", "layers_per_block", "cross_attention_dim",
        "attention_head_dim", "use_linear_projection", "class_embed_type", "addition_embed_type",
        "addition_time_embed_dim", "projection_class_embeddings_input_dim", "transformer_layers_per_block",
    )  # fmt: skip
    config = {k: unet_keys[k] for k in keys} | {"conditioning_channels": 3}
    converted = convert.convert_controlnet_checkpoint(cn_checkpoint, config)
    model_class = reference.import_diffusers().ControlNetModel
    their_control = reference._converted(model_class, cn_checkpoint, config, converted, "ControlNet")
    return their_unet.requires_grad_(False), their_control.requires_grad_(False)


def _inputs(size: int, context_dim: int):
    gen = torch.Generator().manual_seed(1)
    latent = size // 8
    return (
        torch.randn(2, 4, latent, latent, generator=gen),
        torch.rand(1, 3, size, size, generator=gen),
        torch.tensor([500.0, 500.0]),
        torch.randn(2, 77, context_dim, generator=gen),
    )


def _tasks(side: str, nets, inputs):
    x, hint, t, context = inputs
    unet, control = nets
    if side == "ours":

        def step() -> None:
            down, mid = control(x, hint, t, context)
            unet(x, t, context=context, down_residuals=down, mid_residual=mid)

        def our_unet() -> None:
            unet(x, t, context=context)

        def our_control() -> None:
            control(x, hint, t, context)

        return {"unet": our_unet, "step": step, "control": our_control}
    images = hint.expand(2, -1, -1, -1)

    def their_control():
        return control(x, t, encoder_hidden_states=context, controlnet_cond=images, return_dict=False)

    def their_step() -> None:
        down, mid = their_control()
        unet(x, t, encoder_hidden_states=context, down_block_additional_residuals=down,
             mid_block_additional_residual=mid, return_dict=False)  # fmt: skip

    def their_unet() -> None:
        unet(x, t, encoder_hidden_states=context, return_dict=False)

    def control_only() -> None:
        their_control()

    return {"unet": their_unet, "step": their_step, "control": control_only}


def _peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def measure_memory(side: str, shapes: str, size: int) -> dict:
    """In this (fresh) process: build one side's nets and run one step; peak RSS before and after."""
    nets = _ours(shapes)
    if side == "diffusers":
        nets = _theirs(*nets, shapes)  # ours are dropped below: the peak of the build is not the step's
    inputs = _inputs(size, _configs(shapes)[0].context_dim)
    task = _tasks(side, nets, inputs)["step"]
    import gc

    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark to the current RSS
    resident = _peak_rss()
    with torch.inference_mode():
        task()
    return {"resident_bytes": resident, "step_peak_bytes": _peak_rss()}


def _memory_in_child(side: str, shapes: str, size: int, threads: int) -> dict | None:
    code = (
        "import json, sys; from ldm_studio.bench.controlnet import measure_memory, set_threads;"
        f"set_threads({threads}) if {threads} else None;"
        f"print(json.dumps(measure_memory({side!r}, {shapes!r}, {size})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        print(f"memory ({side}) failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ldm_studio.bench.controlnet", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--shapes", choices=("sd15", "tiny"), default="sd15")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels (latent: size / 8)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    parser.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="cpu: CPU seconds of the process (stable on a shared machine, use with --threads 1); wall",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the per-side peak memory")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw numbers here")
    args = parser.parse_args(argv)
    if args.threads:
        set_threads(args.threads)
    from ldm_studio.bench import reference

    if not reference.diffusers_installed():
        print("diffusers is not installed: nothing to compare against")
        return 1
    ours = _ours(args.shapes)
    theirs = _theirs(*ours, args.shapes)
    inputs = _inputs(args.size, _configs(args.shapes)[0].context_dim)
    mine, their = _tasks("ours", ours, inputs), _tasks("diffusers", theirs, inputs)
    rows = {}
    with torch.inference_mode():
        for row, key in (
            ("UNet step", "unet"),
            ("UNet + ControlNet step", "step"),
            ("ControlNet alone", "control"),
        ):
            tasks = {"ours": mine[key], "diffusers": their[key]}
            rows[row] = alternate(tasks, repeats=args.repeats, clock=CLOCKS[args.clock])
    del ours, theirs, mine, their
    memory = {}
    if not args.no_memory:
        memory = {
            side: _memory_in_child(side, args.shapes, args.size, args.threads)
            for side in ("ours", "diffusers")
        }
    threads = torch.get_num_threads()
    print(f"{args.shapes} SD 1.x UNet + ControlNet, fp32 CPU, {threads} threads, CFG batch 2 at "
          f"{args.size}², {args.clock} seconds, median of {args.repeats}")  # fmt: skip
    print(f"{'row':<24}{'ours s':>10}{'diffusers s':>14}{'ratio':>8}")
    for row, samples in rows.items():
        a, b = median(samples["ours"]), median(samples["diffusers"])
        print(f"{row:<24}{a:>10.3f}{b:>14.3f}{b / a:>7.2f}x")
    for side, numbers in memory.items():
        if numbers:
            peak, resident = numbers["step_peak_bytes"] / 2**30, numbers["resident_bytes"] / 2**30
            print(f"peak memory {side:<10} {peak:.2f} GiB (resident before the step: {resident:.2f} GiB)")
    if args.json:
        payload = {
            "shapes": args.shapes,
            "size": args.size,
            "threads": torch.get_num_threads(),
            "repeats": args.repeats,
            "clock": args.clock,
            "torch": torch.__version__,
            "seconds": rows,
            "memory": memory,
        }
        args.json.write_text(json.dumps(payload, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
