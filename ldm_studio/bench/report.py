"""The benchmark's output: the machine it ran on, and one table per configuration (text or Markdown)."""

from __future__ import annotations

import os
import platform
from importlib import metadata

from ldm_studio.bench.compare import ConfigResult, Row
from ldm_studio.bench.theirs import SKIPPED

RATIO_NOTE = "ratio = diffusers ÷ ours (time or memory): > 1 means ours is faster / smaller"


def machine() -> dict[str, str]:
    """CPU model, cores, GPU, library versions and the load average right now."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info = {"cpu": f"{cpu}, {cores} cores usable", "python": platform.python_version()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    for package in ("torch", "diffusers", "transformers"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            info[package] = "not installed"
    info["threads"] = str(torch.get_num_threads())
    return info


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _value(row: Row, value: float | None) -> str:
    if value is None:
        return "—"
    if row.unit == "B":
        return f"{value / 2**30:.2f} GiB" if value >= 2**30 else f"{value / 2**20:.0f} MiB"
    return f"{value:.3f} s" if value >= 1 else f"{value * 1e3:.1f} ms"


def _ratio(row: Row) -> str:
    return "—" if row.ratio is None else f"{row.ratio:.2f}×"


def text_table(result: ConfigResult) -> str:
    width = max(len(row.label) for row in result.rows) + 2
    lines = [f"== {result.spec.describe()} ==", f"{'':{width}}{'ours':>12}{'diffusers':>12}{'ratio':>9}"]
    for row in result.rows:
        lines.append(
            f"{row.label:{width}}{_value(row, row.ours):>12}{_value(row, row.theirs):>12}{_ratio(row):>9}"
        )
    lines.append(RATIO_NOTE if result.compared else SKIPPED)
    lines += result.notes
    return "\n".join(lines)


def markdown_table(result: ConfigResult) -> str:
    lines = [
        f"**{result.spec.describe()}**",
        "",
        "| row | ours | diffusers | ratio |",
        "|---|---:|---:|---:|",
    ]
    for row in result.rows:
        lines.append(f"| {row.label} | {_value(row, row.ours)} | {_value(row, row.theirs)} | {_ratio(row)} |")
    lines += ["", RATIO_NOTE if result.compared else SKIPPED, *(f"- {note}" for note in result.notes)]
    return "\n".join(lines)
