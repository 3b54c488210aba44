"""Exponential moving average of a module's weights: what the demo models ship, not the last step's.

A diffusion model's last weights wander with the last few batches; their average over the final few
hundred steps samples cleaner images (as CompVis's `model_ema` and diffusers' EMAModel keep).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import nn


def ema_copy(module: nn.Module) -> nn.Module:
    """A frozen copy to average into (saved in checkpoints like any module)."""
    return copy.deepcopy(module).requires_grad_(False)


@torch.no_grad()
def update_ema(average: nn.Module, module: nn.Module, decay: float, step: int) -> None:
    """average ← d·average + (1−d)·module, with d warming up as (1+step)/(10+step) so early steps count."""
    d = min(decay, (1 + step) / (10 + step))
    for a, p in zip(average.parameters(), module.parameters(), strict=True):
        a.lerp_(p.detach(), 1 - d)
    for a, b in zip(average.buffers(), module.buffers(), strict=True):
        a.copy_(b)


def add_ema(
    modules: dict[str, nn.Module], names: Sequence[str], decay: float
) -> Callable[[int], None] | None:
    """Add an `ema_<name>` copy of each named module to `modules` (so checkpoints save and resume it) and
    return the after-step update for `train_loop`; None when `decay` is 0 (no EMA)."""
    if not decay:
        return None
    for name in names:
        modules[f"ema_{name}"] = ema_copy(modules[name])

    def update(step: int) -> None:
        for name in names:
            update_ema(modules[f"ema_{name}"], modules[name], decay, step)

    return update
