"""SDXL rows of the CPU benchmark (ours' side only so far): `python -m ldm_studio.bench.sdxl FILE`.

Measures, in this one process, our load of an SDXL single file (seconds + peak RSS against the file's fp32
size, which shows whether a second copy of the weights was ever held) and one whole txt2img at `--size`
with `--steps` steps, the median of `--repeats` runs. Unfinished (see docs/PERFORMANCE.md, "SDXL"):
diffusers' side (StableDiffusionXLPipeline.from_single_file in a fresh process, after ours is dropped),
the UNet-step and VAE-decode rows, and the SDXL-sized random file writer.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from pathlib import Path

import torch

from ldm_studio.bench.load import _peak_rss
from ldm_studio.bench.ours import touch_weights
from ldm_studio.bench.spec import CFG_SCALE, NEGATIVE, PROMPT, SEED


def fp32_size(path: str | Path) -> int:
    """Bytes the file's float tensors take in fp32 (what both sides hold after upcasting)."""
    from safetensors import safe_open

    total = 0
    with safe_open(str(path), "pt") as f:
        for key in f.keys():  # noqa: SIM118 (safe_open is not iterable)
            piece = f.get_slice(key)
            count = 1
            for d in piece.get_shape():
                count *= d
            total += 4 * count
    return total


def measure_ours(path: str | Path, size: int, steps: int, repeats: int) -> dict:
    """Load (seconds, peak RSS) and txt2img seconds (median) of our engine on the SDXL file `path`."""
    from ldm_studio.engine.checkpoints.loading import load_model
    from ldm_studio.engine.pipelines.run import run
    from ldm_studio.engine.requests import GenerationRequest, Result

    start = time.perf_counter()
    model = load_model(str(path), device="cpu", precision="fp32")
    touch_weights([m for m in (model.unet, model.vae, model.text_encoder) if m is not None])
    load_s = time.perf_counter() - start
    load_peak = _peak_rss()
    request = GenerationRequest(
        mode="txt2img",
        model=str(path),
        prompt=PROMPT,
        negative_prompt=NEGATIVE,
        seed=SEED,
        steps=steps,
        cfg_scale=CFG_SCALE,
        sampler="euler",
        width=size,
        height=size,
        device="cpu",
        precision="fp32",
    )
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        events = list(run(model, request, threading.Event()))
        samples.append(time.perf_counter() - start)
        assert isinstance(events[-1], Result), events[-1]
    return {
        "load_s": load_s,
        "load_peak_rss": load_peak,
        "file_fp32_bytes": fp32_size(path),
        "txt2img_s": statistics.median(samples),
        "peak_rss": _peak_rss(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    print(json.dumps(measure_ours(args.file, args.size, args.steps, args.repeats), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
