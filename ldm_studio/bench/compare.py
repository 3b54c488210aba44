"""One configuration measured side by side: ours against diffusers on the same checkpoint file.

Order: write the checkpoint (and diffusers' config folder); start the two memory processes and wait for
them (they run apart from the timings, so they cannot disturb them); then, in this process, every timed
row alternating the two sides. Without diffusers, ours is still timed and the comparison is skipped.
"""

from __future__ import annotations

import gc
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ldm_studio.bench import memory
from ldm_studio.bench.load import checkpoint_shapes, write_random_checkpoint
from ldm_studio.bench.ours import Ours
from ldm_studio.bench.reference import diffusers_installed, import_diffusers
from ldm_studio.bench.spec import BenchSpec
from ldm_studio.bench.timing import CLOCKS, alternate, cuda_sync, median, set_threads
from ldm_studio.engine.runtime.host_memory import return_free_memory


@dataclass
class Row:
    label: str
    unit: str  # "s" or "B"
    ours: float | None
    theirs: float | None = None

    @property
    def ratio(self) -> float | None:
        """Theirs ÷ ours of a smaller-is-better quantity: ours' speed (or thrift) relative to theirs."""
        if self.ours is None or self.theirs is None or self.ours == 0:
            return None
        return self.theirs / self.ours


@dataclass
class ConfigResult:
    spec: BenchSpec
    rows: list[Row] = field(default_factory=list)
    seconds_per_image: dict[str, dict[int, float]] = field(default_factory=dict)  # side -> size -> s
    notes: list[str] = field(default_factory=list)
    compared: bool = True


def write_checkpoint(spec: BenchSpec, folder: Path, log: Callable[[str], None]) -> BenchSpec:
    """Write (or reuse) the random-weight checkpoint in `folder`; the spec that uses it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"random-{spec.shapes}.safetensors"
    if not path.exists():
        start = time.perf_counter()
        write_random_checkpoint(path, checkpoint_shapes(spec.shapes))
        log(f"wrote {path} ({path.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - start:.0f} s")
    return spec.replace(path=str(path))


def write_diffusers_folder(spec: BenchSpec, folder: Path) -> BenchSpec:
    """Write (or reuse) diffusers' pipeline folder for the checkpoint; the spec that uses it."""
    config_folder = folder / f"diffusers-{spec.shapes}"
    if not (config_folder / "model_index.json").exists():
        from ldm_studio.bench.theirs import write_config_folder
        from ldm_studio.engine.checkpoints.inspection import inspect_checkpoint

        write_config_folder(spec, inspect_checkpoint(spec.path).config, config_folder)
    return spec.replace(diffusers_folder=str(config_folder))


def run_config(
    spec: BenchSpec,
    *,
    workdir: Path | None = None,
    with_memory: bool = True,
    log: Callable[[str], None] = print,
) -> ConfigResult:
    if spec.threads:
        set_threads(spec.threads)
    with tempfile.TemporaryDirectory(prefix="ldm-bench-") as temp:
        folder = workdir or Path(temp)
        spec = write_checkpoint(spec, folder, log)
        # The memory processes import and run while this one prepares (untimed); diffusers' measures once
        # its folder exists. The timings start only after both have finished.
        processes = {}
        if with_memory and memory.available(spec):
            log("measuring peak memory (one fresh process per side)…")
            processes = {
                side: memory.start(side) for side in ("ours", "diffusers")[: 1 + diffusers_installed()]
            }
            memory.send(processes["ours"], spec)
        with_diffusers = import_diffusers() is not None
        if with_diffusers:
            spec = write_diffusers_folder(spec, folder)
            if processes:
                memory.send(processes["diffusers"], spec)
        elif "diffusers" in processes:
            processes.pop("diffusers").kill()  # installed but not importable: nothing to measure
        log("prepared; waiting for the memory processes" if processes else "prepared")
        peaks = {side: memory.finish(process) for side, process in processes.items()}
        result = ConfigResult(spec, compared=with_diffusers)
        _time_rows(spec, result, with_diffusers, log)
        for phase in memory.PHASES if peaks else ():
            label = f"peak {'GPU memory' if spec.is_cuda else 'RSS'}, {phase.replace('_', ' ')}"
            result.rows.append(Row(label, "B", peaks["ours"][phase], peaks.get("diffusers", {}).get(phase)))
    return result


def _time_rows(
    spec: BenchSpec, result: ConfigResult, with_diffusers: bool, log: Callable[[str], None]
) -> None:
    ours = Ours(spec)
    runners = {"ours": ours}
    if with_diffusers:
        from ldm_studio.bench.theirs import Theirs

        runners["diffusers"] = Theirs(spec)
    sync, clock = cuda_sync(spec.device), CLOCKS[spec.clock]

    def timed(label: str, tasks: dict, *, repeats: int = spec.step_repeats, warmup: int = 1) -> dict:
        start = time.perf_counter()
        samples = alternate(tasks, repeats=repeats, warmup=warmup, sync=sync, clock=clock)
        medians = {side: median(values) for side, values in samples.items()}
        result.rows.append(Row(label, "s", medians["ours"], medians.get("diffusers")))
        log(f"{label}: {_medians(medians)} ({time.perf_counter() - start:.0f} s)")
        return medians

    # Load: ours and diffusers' from_single_file read the same file; diffusers' from_pretrained reads its
    # own folder format (its fastest load, no key conversion) and gets a row of its own.
    loads = {side: runner.load for side, runner in runners.items()}
    if with_diffusers:
        loads["diffusers-folder"] = runners["diffusers"].load_pretrained
    # Every load starts with no model of either side resident, as an app's first load does, whatever
    # side ran before it (see unload_all).
    unload = dict.fromkeys(loads, unload_all(list(runners.values())))
    # At least one untimed load each: a process's first load also pays for imports (transformers' CLIP
    # modules, ~3.5 s at one thread), and whichever side ran first would carry them in its median.
    samples = alternate(
        loads, repeats=spec.repeats, warmup=load_warmup(spec), sync=sync, before=unload, clock=clock
    )
    log(f"checkpoint load: {_medians({side: median(values) for side, values in samples.items()})}")
    result.rows.append(
        Row("checkpoint load (same file)", "s", median(samples["ours"]), median(samples.get("diffusers")))
    )
    if with_diffusers:
        folder = median(samples["diffusers-folder"])
        result.rows.append(
            Row("checkpoint load (diffusers: own folder)", "s", median(samples["ours"]), folder)
        )
    for runner in runners.values():
        runner.prepare()

    step = timed("UNet step, CFG (batch 2)", {s: r.unet_step for s, r in runners.items()})
    timed(f"VAE decode {spec.size}²", {s: r.vae_decode for s, r in runners.items()})
    preview = median(alternate({"ours": ours.preview}, repeats=21, warmup=3, sync=sync, clock=clock)["ours"])
    result.notes.append(
        f"live preview (latent→RGB, every step): {preview * 1e3:.2f} ms = "
        f"{100 * preview / step['ours']:.2g}% of our UNet step"
    )
    timed(
        "Generate → first preview (wall)",
        {s: r.first_preview for s, r in runners.items()},
        warmup=spec.warmup,
    )
    again = alternate({"ours": lambda: ours.first_preview(prompt_seen=True)}, repeats=3, warmup=1, sync=sync)
    result.notes.append(
        f"first preview, Generate again with the same prompt (ours skips the text encoder): "
        f"{median(again['ours']) * 1e3:.1f} ms"
    )
    for size in sorted({spec.size, *spec.plot_sizes}, key=lambda s: (s != spec.size, s)):
        medians = timed(
            f"txt2img {spec.steps} steps {size}² (text, sampling, VAE, PIL)",
            {s: (lambda r=r, size=size: r.txt2img(size)) for s, r in runners.items()},
            repeats=spec.repeats,
            warmup=spec.warmup,
        )
        if size != spec.size:
            result.rows.pop()  # only the table's size is a row; the others feed the plot
        for side, seconds in medians.items():
            result.seconds_per_image.setdefault(side, {})[size] = seconds


def load_warmup(spec: BenchSpec) -> int:
    """Untimed loads per side before the load row's timed ones."""
    return max(1, spec.warmup)


def _medians(medians: dict[str, float | None]) -> str:
    return ", ".join(f"{side} {value:.4f} s" for side, value in medians.items() if value is not None)


def unload_all(runners: list) -> Callable[[], None]:
    """Drop every side's model and hand the freed heap back to the OS.

    Without the trim, a load reused whatever gigabytes the previous side had just freed, so the order of
    the sides, not their code, decided up to 2× of a one-thread load (both spend most of it faulting in
    fresh pages). Dropping only the side about to load left the other side's model resident during it.
    """

    def unload() -> None:
        for runner in runners:
            runner.unload()
        gc.collect()
        return_free_memory()

    return unload
