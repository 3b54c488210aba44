"""SDXL rows of the CPU benchmark: `python -m ldm_studio.bench.sdxl [--file FILE] [--json J --markdown M]`.

Ours (load_model + pipeline.run) against diffusers' StableDiffusionXLPipeline.from_single_file on the same
SDXL single file, fp32 on the CPU. Without `--file` an SDXL-base-sized random file (≈6.9 GB fp16,
bench/sdxl_file.py) is written to `--workdir` and deleted afterwards.

fp32 SDXL is ≈14 GB, so the two sides cannot be resident together on a 24 GB machine, nor alternated
in one process as the SD 1.x bench does: each side runs in a fresh process of its own, ours first, then
diffusers' once ours has exited. Before the first, the machine is primed (`prime_machine`): on a VM the
first process to touch fresh memory or to read a just-written file pays the host's costs (2× the load's
wall and CPU seconds, measured), so without it whichever side ran first looked slow.
In each, phase by phase: load (+ touching every weight), then — after
the untimed text encoding of the single-network rows — the UNet step with CFG (batch 2), the VAE decode
and a whole txt2img (text, sampling, VAE, PIL). A third process decodes with both VAEs, alternated
(bench/sdxl_vae.py): the one row where the sides share a process. Each phase has its wall and CPU
seconds and its peak RSS (the high-water mark reset before the phase, bench/memory.py). The load's
peak is also given against the file's size in fp32: what both sides hold once loaded, so ≈1× means no
second copy of the weights.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from ldm_studio.bench.spec import CFG_SCALE, BenchSpec

SIDES = ("ours", "diffusers")
TIMED = ("unet_step", "vae_decode", "txt2img")
BOTH_VAES = "both VAEs"  # the run_side of the alternated VAE row
ALTERNATED_LABEL = "VAE decode, both VAEs in one process, alternated"
SPEC = BenchSpec(
    "sdxl-cpu", "sdxl", "cpu", "fp32", 512, 2, (), repeats=1, step_repeats=1, warmup=1, threads=2
)
RATIO_NOTE = "ratio = diffusers ÷ ours (time or memory): > 1 means ours is faster / smaller"


def fp32_size(path: str | Path) -> int:
    """Bytes the file's float tensors take in fp32 (what both sides hold after upcasting); header only."""
    from ldm_studio.engine.checkpoints.files import read_safetensors_header

    tensors, _ = read_safetensors_header(Path(path))
    return sum(4 * info.numel for info in tensors.values() if info.dtype.is_floating_point)


def _preload(side: str) -> None:
    """Imports (and the tokenizer files) before any clock starts: imports are not load time."""
    if side == "ours":
        from ldm_studio.bench import sdxl_ours  # noqa: F401
        from ldm_studio.engine.pipelines.tokenizer import load_tokenizer

        load_tokenizer(0)
    else:
        import transformers

        from ldm_studio.bench import reference, sdxl_diffusers  # noqa: F401

        reference.import_diffusers().StableDiffusionXLPipeline  # noqa: B018 (its lazy import)
        transformers.CLIPTextModel, transformers.CLIPTextModelWithProjection  # noqa: B018


def _timed(task: Callable[[], None], warmup: int, repeats: int) -> dict:
    for _ in range(warmup):
        task()
    wall, cpu = [], []
    for _ in range(repeats):
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        task()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {"wall_s": statistics.median(wall), "cpu_s": statistics.median(cpu), "wall_samples": wall}


def measure_side(side: str, spec: BenchSpec) -> dict:
    """In a fresh process: seconds and peak RSS of every phase of `side` ("ours" / "diffusers"), or for
    `BOTH_VAES` the two VAEs' decode in one process, alternated (bench/sdxl_vae.py)."""
    if side == BOTH_VAES:
        from ldm_studio.bench.sdxl_vae import alternated_vae_decode

        return alternated_vae_decode(spec, rounds=max(4, spec.step_repeats))
    from ldm_studio.bench.memory import _peak, _reset_peak
    from ldm_studio.bench.timing import set_threads
    from ldm_studio.engine.runtime.host_memory import return_free_memory

    if spec.threads:
        set_threads(spec.threads)
    _preload(side)
    if side == "ours":
        from ldm_studio.bench.sdxl_ours import SdxlOurs

        runner = SdxlOurs(spec)
    else:
        from ldm_studio.bench.sdxl_diffusers import SdxlTheirs

        runner = SdxlTheirs(spec)
    gc.collect()
    return_free_memory()
    _reset_peak(False)
    phases = {"load": _timed(runner.load, 0, 1)}
    phases["load"]["peak_rss"] = _peak(False)
    _progress(side, "load", phases["load"])
    runner.prepare()  # the text encoding of the single-network rows, untimed
    for name in TIMED:
        gc.collect()
        _reset_peak(False)
        repeats = spec.repeats if name == "txt2img" else spec.step_repeats
        warmup = 0 if name == "txt2img" else spec.warmup  # the other rows have warmed everything up
        phases[name] = _timed(getattr(runner, name), warmup, repeats)
        phases[name]["peak_rss"] = _peak(False)
        _progress(side, name, phases[name])
    return phases


def _progress(side: str, phase: str, result: dict) -> None:
    seconds, peak = result["wall_s"], result["peak_rss"] / 2**30
    print(f"  {side} {phase}: {seconds:.2f} s, peak RSS {peak:.2f} GiB", file=sys.stderr, flush=True)


def run_side(side: str, spec: BenchSpec) -> dict:
    """`measure_side` in a fresh interpreter (so its peaks are its own and its memory goes with it)."""
    code = (
        "import json, sys; from ldm_studio.bench.sdxl import measure_side; "
        "from ldm_studio.bench.spec import BenchSpec; "
        "print(json.dumps(measure_side(sys.argv[1], BenchSpec(**json.loads(sys.argv[2])))))"
    )
    argv = [sys.executable, "-c", code, side, json.dumps(asdict(spec))]
    done = subprocess.run(argv, stdout=subprocess.PIPE, text=True, check=False)  # stderr: progress, errors
    if done.returncode != 0:
        raise RuntimeError(f"{side}'s measurement failed (exit {done.returncode}), see its output above")
    return json.loads(done.stdout.strip().splitlines()[-1])


def memory_available() -> int:
    """MemAvailable of the machine in bytes (0 where /proc/meminfo is missing)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def rows(results: dict[str, dict], fp32_bytes: int, alternated: dict | None = None) -> list[dict]:
    """The table: label, unit, ours, diffusers, ratio (diffusers ÷ ours) and, for times, the CPU ratio;
    with `alternated` (`alternated_vae_decode`'s result), its row after the VAE decode's."""
    out = []

    def add(label: str, unit: str, get: Callable[[dict], float], cpu: Callable[[dict], float] | None = None):
        values = {side: get(result) for side, result in results.items()}
        row = {"label": label, "unit": unit, **values, "ratio": None, "cpu_ratio": None}
        if len(values) == 2 and values["ours"]:
            row["ratio"] = values["diffusers"] / values["ours"]
            if cpu is not None:
                row["cpu_ratio"] = cpu(results["diffusers"]) / cpu(results["ours"])
        out.append(row)

    def seconds(phase: str):
        return lambda r: r[phase]["wall_s"]

    def cpu_seconds(phase: str):
        return lambda r: r[phase]["cpu_s"]

    add("load, cold page cache (every weight touched)", "s", seconds("load"), cpu_seconds("load"))
    add("peak RSS, load", "B", lambda r: r["load"]["peak_rss"])
    add("peak RSS of the load ÷ the file's fp32 size", "x", lambda r: r["load"]["peak_rss"] / fp32_bytes)
    for phase, label in (
        ("unet_step", "UNet step, CFG (batch 2)"),
        ("vae_decode", "VAE decode"),
        ("txt2img", "txt2img (text, sampling, VAE, PIL)"),
    ):
        add(label, "s", seconds(phase), cpu_seconds(phase))
        if phase == "vae_decode" and alternated is not None:
            ours, theirs = alternated["ours"]["wall_s"], alternated["diffusers"]["wall_s"]
            row = {"label": ALTERNATED_LABEL, "unit": "s", "ours": ours, "diffusers": theirs}
            out.append({**row, "ratio": theirs / ours, "cpu_ratio": None})
    for phase in TIMED:
        add(f"peak RSS, {phase.replace('_', ' ')}", "B", lambda r, p=phase: r[p]["peak_rss"])
    return out


def _fmt(unit: str, value: float | None) -> str:
    if value is None:
        return "—"
    if unit == "B":
        return f"{value / 2**30:.2f} GiB"
    if unit == "x":
        return f"{value:.2f}×"
    return f"{value:.2f} s"


def markdown(table: list[dict], spec: BenchSpec) -> str:
    lines = [
        f"**SDXL base-sized random weights, cpu fp32, {spec.size}², {spec.threads or 'default'} threads, "
        f"{spec.steps} Euler steps, CFG {CFG_SCALE:g}**",
        "",
        "| row | ours | diffusers | ratio | CPU-time ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in table:
        ratio = "—" if row["ratio"] is None else f"{row['ratio']:.2f}×"
        cpu = "—" if row["cpu_ratio"] is None else f"{row['cpu_ratio']:.2f}×"
        ours, theirs = _fmt(row["unit"], row.get("ours")), _fmt(row["unit"], row.get("diffusers"))
        lines.append(f"| {row['label']} | {ours} | {theirs} | {ratio} | {cpu} |")
    return "\n".join([*lines, "", RATIO_NOTE])


def wait_for_memory(need: int, timeout_s: float, log: Callable[[str], None]) -> int:
    """Wait (up to `timeout_s`) until the machine has `need` bytes available; what it has then.

    On a machine shared with other jobs, a side started short of memory is killed mid-run (an SDXL
    decode at 512² needs ~1.5 GiB on top of the 13 GiB of fp32 weights)."""
    deadline = time.monotonic() + timeout_s
    while (available := memory_available()) and available < need and time.monotonic() < deadline:
        log(f"  waiting for memory: {available / 2**30:.1f} GiB available, {need / 2**30:.1f} GiB needed")
        time.sleep(20)
    return available


def prime_machine(path: Path, need: int, chunk: int = 64 * 2**20) -> int:
    """Touch `need` bytes of memory once and read `path` through once, both untimed, then free them.

    A VM's host backs guest memory lazily and may cache the disk image itself: the first process after
    a quiet spell pays page-backing and first-read costs that later ones do not. Priming gives both
    sides the same start (each load still starts with the file evicted from the guest's page cache)."""
    import numpy as np

    block = np.ones(need, np.uint8)  # written: every page is backed
    del block
    buffer, done = bytearray(chunk), 0
    with open(path, "rb", buffering=0) as f:
        while count := f.readinto(buffer):
            done += count
    return done  # bytes read


def run_bench(
    spec: BenchSpec,
    sides=SIDES,
    log: Callable[[str], None] = print,
    memory_wait_s: float = 0,
    prime: bool = True,
) -> dict:
    """Both sides on `spec.path` (with its diffusers folder), one fresh process each, in turn."""
    from ldm_studio.bench.load import evict_from_page_cache
    from ldm_studio.bench.report import load_average, machine

    results, context = {}, {}
    need = fp32_size(spec.path) + 3 * 2**30
    if prime:
        if memory_wait_s:
            wait_for_memory(need, memory_wait_s, log)
        start = time.perf_counter()
        prime_machine(Path(spec.path), min(need, int(memory_available() * 0.9)))
        log(f"primed the machine (memory and one read of the file) in {time.perf_counter() - start:.0f} s")
    for side in sides:
        if memory_wait_s:
            wait_for_memory(need, memory_wait_s, log)
        # Both loads from the disk: otherwise the second side finds the file in the page cache the first
        # one filled (how much survives depends on what else runs), and its load looks faster.
        cold = evict_from_page_cache(Path(spec.path))
        context[side] = {
            "load_average_before": load_average(),
            "mem_available_before": memory_available(),
            "page_cache": "cold (evicted before the load)" if cold else "as found",
        }
        start = time.perf_counter()
        results[side] = run_side(side, spec)
        log(f"{side}: {time.perf_counter() - start:.0f} s, {json.dumps(results[side])}")
        context[side]["mem_available_after"] = memory_available()
    alternated = None
    if set(sides) == set(SIDES):
        start = time.perf_counter()
        alternated = run_side(BOTH_VAES, spec)
        log(f"{BOTH_VAES}: {time.perf_counter() - start:.0f} s, {json.dumps(alternated)}")
    fp32_bytes = fp32_size(spec.path)
    return {
        "machine": machine(),
        "spec": asdict(spec),
        "file_bytes": Path(spec.path).stat().st_size,
        "file_fp32_bytes": fp32_bytes,
        "context": context,
        "primed": prime,
        "load_average_after": load_average(),
        "results": results,
        "vae_alternated": alternated,
        "rows": rows(results, fp32_bytes, alternated),
        "note": RATIO_NOTE,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, help="an SDXL base file (default: write a random one)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ldm-bench-sdxl"))
    parser.add_argument("--keep", action="store_true", help="keep the written random file")
    parser.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES))
    parser.add_argument("--size", type=int, default=SPEC.size)
    parser.add_argument("--steps", type=int, default=SPEC.steps)
    parser.add_argument("--repeats", type=int, default=SPEC.step_repeats, help="UNet step / VAE runs")
    parser.add_argument("--warmup", type=int, default=SPEC.warmup, help="untimed UNet step / VAE runs")
    parser.add_argument("--threads", type=int, default=SPEC.threads)
    parser.add_argument(
        "--memory-wait", type=float, default=900, help="seconds to wait for enough free memory per side"
    )
    parser.add_argument(
        "--no-prime", action="store_true", help="skip the untimed memory touch and file read before the sides"
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)

    from ldm_studio.bench.sdxl_diffusers import write_sdxl_config_folder
    from ldm_studio.bench.sdxl_file import write_sdxl_checkpoint

    path, written = args.file, False
    if path is None:
        path = args.workdir / "random-sdxl-base.safetensors"
        if not path.exists():
            start = time.perf_counter()
            write_sdxl_checkpoint(path)
            written = not args.keep
            print(f"wrote {path} ({path.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - start:.0f} s")
    folder = args.workdir / "diffusers-sdxl"
    if "diffusers" in args.sides:
        write_sdxl_config_folder(path, folder)
    spec = SPEC.replace(
        path=str(path),
        diffusers_folder=str(folder),
        size=args.size,
        steps=args.steps,
        step_repeats=args.repeats,
        warmup=args.warmup,
        threads=args.threads,
    )
    try:
        payload = run_bench(spec, args.sides, memory_wait_s=args.memory_wait, prime=not args.no_prime)
    finally:
        if written:
            path.unlink()
    table = markdown(payload["rows"], spec)
    print(table)
    if args.json:
        args.json.write_text(json.dumps(payload, indent=1))
    if args.markdown:
        args.markdown.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
