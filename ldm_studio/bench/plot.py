"""Seconds per image against resolution, ours and diffusers, one panel per configuration (matplotlib).

matplotlib is a development dependency (the `train` extra), imported only when a plot is asked for.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ldm_studio.bench.compare import ConfigResult

_STYLE = {"ours": ("tab:blue", "o", "ldm_studio"), "diffusers": ("tab:orange", "s", "diffusers")}


def plot_seconds_per_image(results: list[ConfigResult], path: Path) -> Path:
    """Write the plot to `path` (PNG) and return it."""
    matplotlib = importlib.import_module("matplotlib")
    matplotlib.use("Agg")  # files only, no window
    plt = importlib.import_module("matplotlib.pyplot")
    shown = [r for r in results if r.seconds_per_image]
    fig, axes = plt.subplots(1, len(shown), figsize=(5.2 * len(shown), 4.0), squeeze=False)
    for ax, result in zip(axes[0], shown, strict=True):
        spec = result.spec
        for side, by_size in result.seconds_per_image.items():
            colour, marker, label = _STYLE[side]
            sizes = sorted(by_size)
            ax.plot(sizes, [by_size[s] for s in sizes], marker=marker, color=colour, label=label)
        ax.set_title(f"{spec.name}: {spec.device} {spec.precision}, {spec.steps} steps", fontsize=10)
        ax.set_xlabel("image side (px, square)")
        ax.set_ylabel("seconds per image (txt2img)")
        ax.set_xticks(sorted({s for by_size in result.seconds_per_image.values() for s in by_size}))
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
