"""Peak memory per phase (load, VAE decode, txt2img), each side in a fresh process of its own.

CPU: peak resident set size. The kernel keeps one high-water mark per process that never goes down, so
before each phase it is reset to the current RSS (writing "5" to /proc/self/clear_refs, Linux ≥ 4.0) and
read back (VmHWM) after it: each phase's peak includes the weights already resident, as the user sees it.
CUDA: torch.cuda.max_memory_allocated, reset before each phase.
The two sides run in separate processes so neither's weights or allocator caches count for the other.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

PHASES = ("load", "vae_decode", "txt2img")


def _reset_peak(cuda: bool) -> None:
    if cuda:
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    else:
        Path("/proc/self/clear_refs").write_text("5")


def _peak(cuda: bool) -> int:
    if cuda:
        import torch

        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure(side: str, spec_json: str) -> dict[str, int]:
    """In a fresh process: the peak of each phase for `side` ("ours" / "diffusers"), in bytes."""
    import gc

    from ldm_studio.bench.spec import BenchSpec

    spec = BenchSpec(**json.loads(spec_json))
    if spec.threads:
        from ldm_studio.bench.timing import set_threads

        set_threads(spec.threads)
    if side == "ours":
        from ldm_studio.bench.ours import Ours

        runner = Ours(spec)
    else:
        from ldm_studio.bench.theirs import Theirs

        runner = Theirs(spec)
    peaks = {}
    for phase in PHASES:
        gc.collect()
        _reset_peak(spec.is_cuda)
        if phase == "load":
            runner.load()
        elif phase == "vae_decode":
            runner.prepare()  # text encoding too: part of what the pipeline holds during a run
            _reset_peak(spec.is_cuda)
            runner.vae_decode()
        else:
            runner.txt2img(spec.size)
        peaks[phase] = _peak(spec.is_cuda)
    return peaks


def available(spec) -> bool:
    """Per-phase peaks need a resettable high-water mark (Linux) or CUDA."""
    return spec.is_cuda or Path("/proc/self/clear_refs").exists()


def start(side: str) -> subprocess.Popen:
    """Launch the measurement of `side` in a fresh interpreter. It imports its libraries at once (slow for
    diffusers) and then waits for `send` to hand it the spec, so imports overlap with this process's
    preparation; `finish` collects the result."""
    code = (
        "import json, sys; from ldm_studio.bench.memory import measure, preload; "
        f"preload({side!r}); print(json.dumps(measure({side!r}, sys.stdin.readline())))"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def send(process: subprocess.Popen, spec) -> None:
    process.stdin.write(json.dumps(dataclasses.asdict(spec)) + "\n")
    process.stdin.close()
    process.stdin = None  # communicate() would flush a closed pipe


def preload(side: str) -> None:
    """Import what `side` needs before its spec arrives (imports are not what is measured)."""
    if side == "ours":
        from ldm_studio.bench import ours  # noqa: F401
    else:
        from ldm_studio.bench import reference, theirs

        reference.import_diffusers()
        theirs.quiet_diffusers()


def finish(process: subprocess.Popen) -> dict[str, int]:
    if process.stdin is not None:  # never sent a spec: the child fails fast instead of waiting forever
        process.stdin.close()
        process.stdin = None
    out, err = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"memory measurement failed:\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])
