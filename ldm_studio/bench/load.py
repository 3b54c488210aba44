"""Checkpoint load speed and memory: `python -m ldm_studio.bench.load [--size sd15|tiny] [--keep FILE]`.

Writes a checkpoint with the real SD 1.5 shapes (random fp16 weights, ~2.1 GB) to a temporary file, then
in fresh subprocesses (so each peak RSS is its own) measures
  raw:  `safetensors.torch.load_file` + touching every tensor — the floor for reading the file;
  ours: `load_model(path, device="cpu", precision=...)` + touching every weight of the three nets.
"Touching" reads one value per memory page, so every byte comes off the disk (or page cache) without
timing a reduction over a billion numbers. Imports are done before the clock starts. Each measurement
runs `--repeats` times, alternating, and the fastest run is kept. Two cache states (Linux): "warm", the
file already in the page cache (a reload), and "cold", the file evicted from the cache before each run
with posix_fadvise(DONTNEED) (a first load; this touches only this file's pages, nobody else's).
Targets: ours' peak RSS ≤ 1.3× the file size, ours' time ≤ 1.5× raw.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

RSS_TARGET = 1.3  # × file size
TIME_TARGET = 1.5  # × raw read


def checkpoint_shapes(size: str) -> dict[str, tuple[int, ...]]:
    """Every tensor name and shape of an SD 1.5 checkpoint (or the tiny one: tiny.py), original layout."""
    from ldm_studio.engine.checkpoints.families import KNOWN_FAMILIES
    from ldm_studio.engine.nets.autoencoder import Autoencoder
    from ldm_studio.engine.nets.text import TextEncoder, text_state_dict_to_checkpoint
    from ldm_studio.engine.nets.unet import UNetModel

    if size == "tiny":
        from ldm_studio.bench.tiny import tiny_sd1_family

        family = tiny_sd1_family()
    else:
        family = KNOWN_FAMILIES["sd1"]
    with torch.device("meta"):
        shapes = {
            f"model.diffusion_model.{k}": v.shape for k, v in UNetModel(family.unet).state_dict().items()
        }
        shapes.update(
            {f"first_stage_model.{k}": v.shape for k, v in Autoencoder(family.vae).state_dict().items()}
        )
        text = text_state_dict_to_checkpoint(TextEncoder(family.text).state_dict(), family.text)
        shapes.update({f"cond_stage_model.{k}": v.shape for k, v in text.items()})
    return {k: tuple(v) for k, v in shapes.items()}


def write_random_checkpoint(path: Path, shapes: dict[str, tuple[int, ...]], seed: int = 0) -> int:
    """Stream a safetensors file of random fp16 tensors, one tensor in memory at a time; returns its size."""
    header, offset = {}, 0
    for name, shape in shapes.items():
        nbytes = 2 * _numel(shape)
        header[name] = {"dtype": "F16", "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # keep tensor data 8-byte aligned, as safetensors does
    generator = torch.Generator().manual_seed(seed)
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        for shape in shapes.values():
            tensor = (torch.randn(shape, generator=generator) * 0.02).half()
            f.write(tensor.numpy().tobytes())
        f.flush()
        os.fsync(f.fileno())  # dirty pages cannot be evicted for the cold runs
    return path.stat().st_size


def evict_from_page_cache(path: Path) -> bool:
    """Drop this file's pages from the OS cache so the next read comes from the disk (Linux only)."""
    if not hasattr(os, "posix_fadvise"):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return True


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _touch(tensors) -> float:
    """Read one element per 4 KiB page of every tensor; returns a checksum so nothing is optimised away."""
    total = 0.0
    for tensor in tensors:
        flat = tensor.reshape(-1)
        step = max(1, 4096 // flat.element_size())
        total += float(flat[::step].float().sum())
    return total


def _rss_now() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB, macOS bytes


def measure(kind: str, path: str, precision: str) -> dict:
    """Run in a fresh process: time and memory of one way of loading `path`."""
    if kind == "raw":
        from safetensors.torch import load_file

        before = _rss_now()
        start = time.perf_counter()
        state = load_file(path)
        _touch(state.values())
    else:
        # Import everything (and read the tokenizer) before the clock starts: imports are not load time.
        for net in ("autoencoder", "text", "unet"):
            importlib.import_module(f"ldm_studio.engine.nets.{net}")
        from ldm_studio.engine.checkpoints.loading import load_model
        from ldm_studio.engine.pipelines.tokenizer import load_tokenizer

        load_tokenizer(49407)
        before = _rss_now()
        start = time.perf_counter()
        model = load_model(path, device="cpu", precision=precision)
        nets = (model.unet, model.vae, model.text_encoder)
        _touch(t for net in nets for t in [*net.parameters(), *net.buffers()])
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_rss": _peak_rss(), "rss_before": before}


def _run(kind: str, path: Path, precision: str) -> dict:
    code = (
        "import json, sys; from ldm_studio.bench.load import measure; "
        f"print(json.dumps(measure({kind!r}, {str(path)!r}, {precision!r})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} measurement failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("sd15", "tiny"), default="sd15")
    parser.add_argument("--precision", nargs="+", default=["fp16"], help="load precisions to measure")
    parser.add_argument("--keep", type=Path, help="write the checkpoint here and keep it (default: temp)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cache", choices=("warm", "cold", "both"), default="both")
    args = parser.parse_args(argv)

    folder = tempfile.TemporaryDirectory(prefix="ldm-bench-")
    path = args.keep or Path(folder.name) / f"random-{args.size}.safetensors"
    if not path.exists():
        start = time.perf_counter()
        size = write_random_checkpoint(path, checkpoint_shapes(args.size))
        print(f"wrote {path} ({size / 1e9:.2f} GB) in {time.perf_counter() - start:.1f} s", flush=True)
    size = path.stat().st_size
    try:
        kinds = [("raw", "fp16")] + [("ours", p) for p in args.precision]
        caches = ["warm", "cold"] if args.cache == "both" else [args.cache]
        print(f"\nfile: {size / 1e9:.2f} GB")
        for cache in caches:
            best: dict[tuple[str, str], dict] = {}
            for _ in range(args.repeats):
                for kind, precision in kinds:
                    if cache == "cold" and not evict_from_page_cache(path):
                        raise SystemExit("cold-cache runs need posix_fadvise (Linux)")
                    result = _run(kind, path, precision)
                    key = (kind, precision)
                    if key not in best or result["seconds"] < best[key]["seconds"]:
                        best[key] = result
            _print_table(cache, best, size)
        print(f"targets: load_model fp16 ≤ {TIME_TARGET}× raw time, peak RSS ≤ {RSS_TARGET}× file size")
    finally:
        folder.cleanup()
    return 0


def _print_table(cache: str, best: dict[tuple[str, str], dict], size: int) -> None:
    raw = best[("raw", "fp16")]
    print(f"\n{cache} page cache")
    print(f"{'':22}{'time':>9}{'× raw':>8}{'peak RSS':>11}{'× file':>8}{'RSS added':>11}{'× file':>8}")
    for (kind, precision), r in best.items():
        label = "safetensors load_file" if kind == "raw" else f"load_model {precision}"
        peak, added = r["peak_rss"], r["peak_rss"] - r["rss_before"]
        print(
            f"{label:22}{r['seconds']:8.2f}s{r['seconds'] / raw['seconds']:8.2f}"
            f"{peak / 1e9:9.2f}GB{peak / size:8.2f}{added / 1e9:9.2f}GB{added / size:8.2f}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
