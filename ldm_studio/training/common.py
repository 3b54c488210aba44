"""What every training script shares: arguments, resumable checkpoints, the loss log, the lr schedule.

Reproducible and resumable by construction: the data and noise of step k come from RNGs seeded with
(seed, k), never from a stream that carries over between steps, so a run resumed at step k draws the
same batches as one that never stopped.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from torch import nn

CHECKPOINT = "checkpoint.pt"
LOSSES = "losses.csv"


def base_arguments(description: str, steps: int, batch: int, lr: float) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, required=True, help="run folder (checkpoint, loss log, weights)")
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--batch", type=int, default=batch)
    parser.add_argument("--lr", type=float, default=lr)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument(
        "--until", type=int, help="stop (and save) after this step; the lr schedule still spans --steps"
    )
    parser.add_argument("--save-every", type=int, default=100)
    # One thread: on a shared 2-core machine a second OpenMP thread mostly waits at barriers (4x slower).
    parser.add_argument("--threads", type=int, default=1)
    # Data and noise are drawn on the CPU either way, so a seed gives the same run on any device.
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps …")
    return parser


def step_rng(seed: int, step: int, stream: int = 0) -> np.random.Generator:
    """The numpy RNG for one step's data: the same for the same (seed, step), whatever ran before."""
    return np.random.default_rng([seed, step, stream])


def step_generator(seed: int, step: int, stream: int = 0) -> torch.Generator:
    """The torch RNG for one step's noise and timesteps."""
    return torch.Generator().manual_seed(int(step_rng(seed, step, 1000 + stream).integers(2**62)))


def warmup_cosine(step: int, total: int, warmup: int, floor: float = 0.02) -> float:
    """lr multiplier: linear warmup, then cosine down to `floor` (a low final lr sharpens results)."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def save_checkpoint(
    out: Path, step: int, modules: dict[str, nn.Module], optimizer: torch.optim.Optimizer
) -> None:
    state = {"step": step, "optimizer": optimizer.state_dict()}
    state.update({name: module.state_dict() for name, module in modules.items()})
    tmp = out / (CHECKPOINT + ".tmp")
    torch.save(state, tmp)
    tmp.replace(out / CHECKPOINT)  # a crash mid-save leaves the previous checkpoint intact


def load_checkpoint(out: Path, modules: dict[str, nn.Module], optimizer: torch.optim.Optimizer) -> int:
    """Restore modules and optimizer; returns the step to continue from."""
    state = torch.load(out / CHECKPOINT, map_location="cpu", weights_only=True)
    for name, module in modules.items():
        module.load_state_dict(state[name])
    optimizer.load_state_dict(state["optimizer"])  # moves its state to the parameters' device
    return int(state["step"])


class LossLog:
    """losses.csv: one row per step; resuming drops rows past the checkpoint so the curve has no repeats."""

    def __init__(self, out: Path, columns: Iterable[str], resume_step: int | None):
        self.path = out / LOSSES
        self.columns = ["step", *columns, "seconds"]
        rows = []
        if resume_step is not None and self.path.exists():
            with self.path.open() as f:
                rows = [r for r in csv.reader(f)][1:]
            rows = [r for r in rows if int(r[0]) < resume_step]
        with self.path.open("w", newline="") as f:
            csv.writer(f).writerows([self.columns, *rows])
        self.elapsed = float(rows[-1][-1]) if rows else 0.0
        self.started = time.monotonic()

    def add(self, step: int, values: dict[str, float]) -> None:
        seconds = self.elapsed + time.monotonic() - self.started
        row = [step, *(f"{values[c]:.6g}" for c in self.columns[1:-1]), f"{seconds:.1f}"]
        with self.path.open("a", newline="") as f:
            csv.writer(f).writerow(row)


def train_loop(
    args: argparse.Namespace,
    modules: dict[str, nn.Module],
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[int], dict[str, torch.Tensor]],
    *,
    warmup: int = 50,
    clip: float = 1.0,
    on_save: Callable[[], None] | None = None,
    after_step: Callable[[int], None] | None = None,
) -> None:
    """Run steps until `args.steps`: loss_fn(step) returns named losses, "loss" is minimised.

    `after_step(step)` runs after each optimizer step (an EMA update)."""
    args.out.mkdir(parents=True, exist_ok=True)
    # Before loading: a checkpoint's param groups hold the last scheduled lr, not the base one.
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    resuming = args.resume and (args.out / CHECKPOINT).exists()
    start = load_checkpoint(args.out, modules, optimizer) if resuming else 0
    log: LossLog | None = None
    params = [p for m in modules.values() for p in m.parameters() if p.requires_grad]
    for module in modules.values():
        module.train()
    end = args.steps if args.until is None else min(args.until, args.steps)
    for step in range(start, end):
        scale = warmup_cosine(step, args.steps, warmup)
        for group, lr in zip(optimizer.param_groups, base_lrs, strict=True):
            group["lr"] = lr * scale
        losses = loss_fn(step)
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()
        if after_step is not None:
            after_step(step)
        if log is None:
            log = LossLog(args.out, list(losses), start if resuming else None)
        log.add(step, {k: float(v.detach()) for k, v in losses.items()})
        done = step + 1
        if done % args.save_every == 0 or done == end:
            save_checkpoint(args.out, done, modules, optimizer)
            if on_save is not None:
                on_save()
            print(
                f"step {done}/{args.steps} "
                + " ".join(f"{k} {float(v.detach()):.4f}" for k, v in losses.items())
            )
