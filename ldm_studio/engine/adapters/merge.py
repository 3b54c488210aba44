"""Merge adapters into loaded weights, with an exact undo.

Every weight a set of adapters touches is rebuilt from its ORIGINAL tensor: the ΔW of every adapter on
it is summed in float32 onto a float32 copy of the original and cast once to the weight's dtype. The
originals of touched weights are kept (their memory is the only cost), so a changed set or multiplier is
restore + rebuild of the affected weights, and an empty set gives the original tensors back bit for bit.
No checkpoint reload, and nothing runs per sampling step: the merged nets are plain nets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ldm_studio.engine.adapters.deltas import apply_dora, delta_weight, lora_factors, lora_scale
from ldm_studio.engine.adapters.lora_files import AdapterFile, AdapterModule
from ldm_studio.engine.adapters.lora_keys import KeyMap

ParamKey = tuple[str, str]  # (component, parameter name)


@dataclass
class MergeReport:
    """What became of one adapter's modules."""

    name: str
    total: int
    merged: int = 0
    not_found: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # "module: why" (unsupported format, wrong shape)
    unused: int = 0  # modules for layers the model does not run (SD2's last text layer)

    def message(self) -> str | None:
        """One line for the user, or None when every module found its layer."""
        parts = []
        if self.not_found:
            parts.append(
                f"{len(self.not_found)} of {self.total} modules not found (e.g. {self.not_found[0]})"
            )
        if self.failed:
            parts.append(f"{len(self.failed)} of {self.total} modules not applied ({self.failed[0]})")
        return f"LoRA {self.name!r}: " + "; ".join(parts) if parts else None


@dataclass(frozen=True)
class _Step:
    module: AdapterModule
    key: ParamKey
    rows: slice | None  # rows of a packed [q; k; v] weight this module's ΔW covers part of
    bias: bool = False  # a full diff's `diff_b`


class AdapterMerger:
    """Holds the nets' touched originals; `apply` sets the merged adapter set, `clear` restores all.

    `components`: {"unet": ..., "te1": ..., "te2": ...} as `KeyMap` takes them. Text components get the
    text multiplier, the UNet the UNet multiplier. Not thread-safe: call between generations.
    """

    def __init__(self, components: Mapping[str, nn.Module], key_map: KeyMap | None = None):
        self.components = dict(components)
        self.key_map = key_map or KeyMap(self.components)
        self._originals: dict[ParamKey, torch.Tensor] = {}
        self._plans: dict[int, tuple[AdapterFile, list[_Step], MergeReport]] = {}
        self._applied: list[tuple[int, float, float]] = []
        self._reports: list[MergeReport] = []

    @property
    def original_bytes(self) -> int:
        """Memory held for the undo: the touched weights' originals."""
        return sum(t.numel() * t.element_size() for t in self._originals.values())

    @property
    def touched(self) -> int:
        return len(self._originals)

    def clear(self) -> None:
        """Restore every touched weight to its original tensor, bit for bit."""
        self.apply([])

    @torch.no_grad()
    def apply(self, adapters: Sequence[tuple[AdapterFile, float, float]]) -> list[MergeReport]:
        """Make the nets equal original + the given (adapter, text multiplier, UNet multiplier) list."""
        wanted = [(id(a), float(te), float(unet)) for a, te, unet in adapters]
        if wanted == self._applied:
            return self._reports
        plans = [self._plan(adapter) for adapter, _, _ in adapters]
        work: dict[ParamKey, list[tuple[_Step, float, int]]] = {}
        for index, ((_, te, unet), (_, steps, _)) in enumerate(zip(wanted, plans, strict=True)):
            for step in steps:
                multiplier = unet if step.key[0] == "unet" else te
                if multiplier != 0.0:
                    work.setdefault(step.key, []).append((step, multiplier, index))
        for key in [k for k in self._originals if k not in work]:
            self._param(key).copy_(self._originals.pop(key))
        failed: dict[int, list[str]] = {}
        for key, steps in work.items():
            self._rebuild(key, steps, failed)
        self._applied = wanted
        self._reports = [_with_failures(plan[2], failed.get(i, [])) for i, plan in enumerate(plans)]
        self._plans = {id(a): p for (a, _, _), p in zip(adapters, plans, strict=True)}
        return self._reports

    # ---- internals ----

    def _param(self, key: ParamKey) -> nn.Parameter:
        return self.components[key[0]].get_parameter(key[1])

    def _plan(self, adapter: AdapterFile) -> tuple[AdapterFile, list[_Step], MergeReport]:
        cached = self._plans.get(id(adapter))
        if cached is not None and cached[0] is adapter:
            return cached
        report = MergeReport(adapter.name, len(adapter.modules))
        steps: list[_Step] = []
        for name, module in adapter.modules.items():
            target = self.key_map.resolve(name)
            if target is None or target.component not in self.components:
                if self.key_map.is_unused(name):
                    report.unused += 1
                else:
                    report.not_found.append(name)
                continue
            if module.kind.startswith("unsupported"):
                report.failed.append(f"{name}: {module.kind}")
                continue
            if len(target.params) > 1 and module.dora_scale is not None:
                report.failed.append(f"{name}: DoRA on a packed q/k/v projection")
                continue
            report.merged += 1
            for i, param in enumerate(target.params):
                rows = None
                if len(target.params) > 1:
                    height = self.components[target.component].get_parameter(param).shape[0]
                    rows = slice(i * height, (i + 1) * height)
                steps.append(_Step(module, (target.component, param), rows))
            if "diff_b" in module.tensors and len(target.params) == 1:
                bias = target.params[0].removesuffix(".weight") + ".bias"
                try:
                    self.components[target.component].get_parameter(bias)
                except AttributeError:
                    continue
                steps.append(_Step(module, (target.component, bias), None, bias=True))
        return adapter, steps, report

    def _rebuild(self, key: ParamKey, steps: list[tuple[_Step, float, int]], failed: dict) -> None:
        param = self._param(key)
        original = self._originals.get(key)
        fresh = original is None
        if fresh:
            original = self._originals[key] = param.detach().clone()
        # A float32 weight is rebuilt in place (the first ΔW reads the original and writes the weight in
        # one pass); any other dtype in a float32 copy of the original, cast once at the end.
        in_place = param.dtype == torch.float32 and param.is_contiguous()
        out = param.detach() if in_place else original.float()
        base = original if in_place and not fresh else None  # what `out` must start from, if not itself
        for step, multiplier, index in steps:
            try:
                _add_delta(out, step, multiplier, base)
                base = None
            except (ValueError, RuntimeError) as exc:
                failed.setdefault(index, []).append(f"{step.module.name}: {_first_line(exc)}")
        if base is not None:
            out.copy_(base)
        if not in_place:
            param.copy_(out)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


def _with_failures(report: MergeReport, failed: list[str]) -> MergeReport:
    """A fresh report per apply: the cached plan's report stays as planned."""
    unique = sorted(set(failed))  # a packed q/k/v module fails once per row block
    failed_modules = {entry.split(":", 1)[0] for entry in unique}
    return MergeReport(
        report.name,
        report.total,
        report.merged - len(failed_modules),
        list(report.not_found),
        report.failed + unique,
        report.unused,
    )


def _add_delta(out: torch.Tensor, step: _Step, multiplier: float, base: torch.Tensor | None) -> None:
    """out = (base if given, else out) + multiplier · ΔW (or DoRA's rescale), in float32.

    Raises before writing anything when the module's ΔW does not fit the weight.
    """
    module = step.module
    device = out.device
    factors = lora_factors(module) if module.dora_scale is None and not step.bias else None
    if factors is not None:
        up, down = factors
        if step.rows is not None:
            up = up[step.rows]
        if up.shape[0] * down.shape[1] != out.numel():
            raise ValueError(
                f"its ΔW [{up.shape[0]}, {down.shape[1]}] does not fit the weight {tuple(out.shape)}"
            )
        flat = out.view(out.shape[0], -1)
        alpha = multiplier * lora_scale(module)
        if base is None:
            flat.addmm_(up.to(device), down.to(device), alpha=alpha)
        else:  # original + ΔW written straight into the weight: one pass, no separate restore
            torch.addmm(base.view(flat.shape), up.to(device), down.to(device), alpha=alpha, out=flat)
        return
    if step.bias:
        bias = module.tensors["diff_b"]
        if bias.numel() != out.numel():
            raise ValueError(f"its bias ΔW {tuple(bias.shape)} does not fit the bias {tuple(out.shape)}")
        if base is not None:
            out.copy_(base)
        out.add_(bias.to(device, torch.float32).reshape(out.shape), alpha=multiplier)
        return
    if step.rows is not None:
        rows = step.rows.stop - step.rows.start
        full = (rows * 3, *out.shape[1:])
        delta = delta_weight(module, full)[step.rows].to(device)
    else:
        delta = delta_weight(module, out.shape).to(device)
    if base is not None:
        out.copy_(base)
    if module.dora_scale is not None:
        out.copy_(apply_dora(out, delta, module.dora_scale.to(device), multiplier))
    else:
        out.add_(delta, alpha=multiplier)
