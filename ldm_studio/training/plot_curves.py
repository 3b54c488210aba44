"""Plot the loss per step of the training runs into one PNG (docs/training_curves.png).

python -m ldm_studio.training.plot_curves runs/ae runs/ae-decoder runs/txt2img runs/upscaler
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from ldm_studio.training.common import LOSSES


def read_losses(run: Path) -> tuple[np.ndarray, np.ndarray]:
    with (run / LOSSES).open() as f:
        rows = list(csv.DictReader(f))
    return np.array([int(r["step"]) for r in rows]), np.array([float(r["loss"]) for r in rows])


def smoothed(values: np.ndarray, window: int = 20) -> np.ndarray:
    """Running mean over `window` steps: single-batch losses of diffusion models are very noisy."""
    kernel = np.ones(min(window, len(values))) / min(window, len(values))
    return np.convolve(values, kernel, mode="valid")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, default=Path("docs/training_curves.png"))
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(args.runs), figsize=(4 * len(args.runs), 3.2), squeeze=False)
    for ax, run in zip(axes[0], args.runs, strict=True):
        steps, losses = read_losses(run)
        ax.plot(steps, losses, color="0.75", linewidth=0.6, label="per step")
        window = smoothed(losses)
        ax.plot(steps[len(steps) - len(window) :], window, color="C0", label="mean of 20")
        ax.set(title=run.name, xlabel="step", ylabel="loss", yscale="log")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(args.out)


if __name__ == "__main__":
    main()
