"""LoRA apply / remove / weight change, ours against diffusers on the same model and file:
`python -m ldm_studio.bench.lora [--shapes sd15|tiny] [--rank 32] [--repeats 3] [--threads N]`.

Both sides hold the same random-weight SD 1.x model (fp32, CPU) and read the same kohya LoRA file (every
transformer projection, feed-forward and proj_in/out of the UNet, every text layer's q/k/v/out/fc1/fc2).
Rows, each a median of alternating runs:
- apply + remove: ours reads the file and merges it (`read_adapter_file` + `AdapterMerger.apply`), then
  restores the originals (`apply([])`); diffusers `load_lora_weights` + `fuse_lora`, then `unfuse_lora` +
  `unload_lora_weights`.
- weight change: ours `apply` with the other multiplier (undo + redo of the touched weights); diffusers
  `unfuse_lora` + `fuse_lora(lora_scale=…)` with the adapter kept loaded.
The extra memory ours holds while merged (the touched weights' originals) is printed. The generation
speed with a LoRA is the speed without one: the merged nets are plain nets.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from ldm_studio.bench.timing import alternate, median, set_threads

_UNET_LEAVES = ("proj_in", "proj_out", "to_q", "to_k", "to_v", "to_out.0", "ff.net.0.proj", "ff.net.2")
_TEXT_LEAVES = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")


def write_lora_for(pipe, path: Path, rank: int, seed: int = 0) -> int:
    """A kohya LoRA (diffusers module names, as kohya writes SD 1.x files) on the pipeline's nets; modules."""
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    parts = (
        ("lora_unet_", pipe.unet, _UNET_LEAVES),
        ("lora_te_text_model_", pipe.text_encoder, _TEXT_LEAVES),
    )
    for prefix, net, leaves in parts:
        for name, module in net.named_modules():
            if not name.endswith(leaves) or not isinstance(module, torch.nn.Linear | torch.nn.Conv2d):
                continue
            name = name.removeprefix("text_model.")
            out_features, in_features, *kernel = module.weight.shape
            key = prefix + name.replace(".", "_")
            tensors[f"{key}.lora_down.weight"] = torch.randn(rank, in_features, *kernel, generator=generator)
            ones = [1] * len(kernel)
            tensors[f"{key}.lora_up.weight"] = (
                torch.randn(out_features, rank, *ones, generator=generator) * 0.01
            )
            tensors[f"{key}.alpha"] = torch.tensor(rank / 2.0)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    return len(tensors) // 3


def _quiet() -> None:
    """No progress bars or load reports in the output (bench.theirs does the same for its rows)."""
    import logging
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import transformers

    transformers.utils.logging.disable_progress_bar()
    for name in ("diffusers", "transformers", "peft"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ldm_studio.bench.lora", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--shapes", choices=("sd15", "tiny"), default="sd15")
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        set_threads(args.threads)

    from ldm_studio.bench import reference
    from ldm_studio.bench.load import checkpoint_shapes, write_random_checkpoint
    from ldm_studio.engine.adapters.lora_files import read_adapter_file
    from ldm_studio.engine.checkpoints.loading import load_model
    from ldm_studio.engine.pipelines.adapter_state import adapter_state

    if not reference.diffusers_installed():
        print("diffusers is not installed: nothing to compare against")
        return 1
    _quiet()
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = Path(folder) / "model.safetensors"
        write_random_checkpoint(checkpoint, checkpoint_shapes(args.shapes))
        ours = load_model(checkpoint, device="cpu", precision="fp32")
        pipe = reference.txt2img_pipeline(reference.diffusers_components(checkpoint, ours.config))
        lora = Path(folder) / "style.safetensors"
        modules = write_lora_for(pipe, lora, args.rank)
        merger = adapter_state(ours).merger

        def ours_apply_remove() -> None:
            merger.apply([(read_adapter_file(lora), 1.0, 1.0)])
            merger.apply([])

        def theirs_apply_remove() -> None:
            pipe.load_lora_weights(str(lora), adapter_name="style")
            pipe.fuse_lora(lora_scale=1.0)
            pipe.unfuse_lora()
            pipe.unload_lora_weights()

        rows = {
            "apply + remove": alternate(
                {"ours": ours_apply_remove, "diffusers": theirs_apply_remove}, repeats=args.repeats
            )
        }

        adapter = read_adapter_file(lora)
        scales = iter([0.5, 1.0] * (args.repeats + 2))
        their_scales = iter([0.5, 1.0] * (args.repeats + 2))
        merger.apply([(adapter, 1.0, 1.0)])
        pipe.load_lora_weights(str(lora), adapter_name="style")
        pipe.fuse_lora(lora_scale=1.0)
        extra = merger.original_bytes

        def ours_change() -> None:
            scale = next(scales)
            merger.apply([(adapter, scale, scale)])

        def theirs_change() -> None:
            pipe.unfuse_lora()
            pipe.fuse_lora(lora_scale=next(their_scales))

        rows["weight change"] = alternate(
            {"ours": ours_change, "diffusers": theirs_change}, repeats=args.repeats
        )
        merger.apply([])

    print(
        f"{args.shapes} SD 1.x fp32 CPU, LoRA rank {args.rank}, {modules} modules; median of {args.repeats}"
    )
    print(f"{'row':<16}{'ours s':>10}{'diffusers s':>14}{'ratio':>8}")
    for row, samples in rows.items():
        mine, theirs = median(samples["ours"]), median(samples["diffusers"])
        print(f"{row:<16}{mine:>10.3f}{theirs:>14.3f}{theirs / mine:>7.2f}x")
    print(f"extra memory while merged: {extra / 2**20:.1f} MiB (the touched weights' originals, no more)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
