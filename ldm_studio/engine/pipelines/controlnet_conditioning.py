"""ControlNets at run time: load the request's units, make their control images, steer every UNet call.

`prepare_controls(model, request)` checks and loads everything before any work (a file of another
family, a truncated file, a missing image or annotator: one-line errors), keeping loaded nets on the
model (`model.controlnet_cache`) so the next run with the same file does not read it again.
The returned `Controls` is the denoiser's control hook (sampling.denoisers.ControlHook): at each call it
runs every ControlNet whose guidance window holds the step and sums their scaled residuals.

Rules, as diffusers' StableDiffusionControlNetPipeline (for "balanced") and the A1111 extension:
- step i of n is steered when not (i/n < start or (i+1)/n > end) (diffusers' controlnet_keep);
- "balanced": weight on every residual, both CFG halves;
- "prompt" (My prompt is more important): soft weights weight·0.825^(k−1−j) for residual j of k (the
  middle one full; 13 residuals on SD 1.x / 2.x as in the original ControlNet's guess mode), both halves;
- "control" (ControlNet is more important): the soft weights, on the conditional half only (the
  extension's soft_injection and cfg_injection).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ldm_studio.engine.adapters.controlnet_files import (
    LoadedControlNet,
    check_compatible,
    inspect_controlnet,
    load_controlnet,
)
from ldm_studio.engine.errors import InputError
from ldm_studio.engine.pipelines.control_images import control_image
from ldm_studio.engine.requests import CONTROL_MODES, ControlNetUnit, GenerationRequest
from ldm_studio.engine.sampling.denoisers import Conditioning

SOFT_BASE = 0.825


@dataclass(eq=False)
class ActiveControl:
    unit: ControlNetUnit
    loaded: LoadedControlNet
    hint: torch.Tensor  # [1, 3, H, W] on the model's device, in its dtype

    def hint_for(self, latent: torch.Tensor) -> torch.Tensor:
        """The hint at 8x the latent's size: img2img pads its input at the right and bottom edges up to
        the model's grid, so the hint is padded the same way (edge pixels repeated)."""
        height, width = latent.shape[-2] * 8, latent.shape[-1] * 8
        if self.hint.shape[-2:] != (height, width):
            pad_h, pad_w = max(0, height - self.hint.shape[-2]), max(0, width - self.hint.shape[-1])
            padded = torch.nn.functional.pad(self.hint.float(), (0, pad_w, 0, pad_h), mode="replicate")
            self.hint = padded[..., :height, :width].to(self.hint.dtype)
        return self.hint

    def scales(self, count: int) -> list[float]:
        """The weight of each of `count` residuals (down blocks, then the middle)."""
        if self.unit.mode == "balanced":
            return [self.unit.weight] * count
        return [self.unit.weight * SOFT_BASE ** (count - 1 - j) for j in range(count)]


@dataclass(eq=False)
class Controls:
    """The control hook: `controls(x·c_in, t, σ, cond)` → the UNet's down_residuals / mid_residual."""

    active: list[ActiveControl]
    notes: list[str] = field(default_factory=list)
    sigmas: list[float] = field(default_factory=list)

    def set_sigmas(self, sigmas: torch.Tensor) -> None:
        """The schedule being sampled: the step index of a σ is read from it."""
        self.sigmas = [float(s) for s in sigmas]

    def step_of(self, sigma: float) -> tuple[int, int]:
        steps = max(len(self.sigmas) - 1, 1)
        # The last σ at or above this one: a first-order step's own σ (Heun's second call reads the next).
        index = sum(1 for s in self.sigmas[:steps] if s >= sigma * (1 - 1e-6)) - 1
        return max(index, 0), steps

    def __call__(self, x: torch.Tensor, t: torch.Tensor, sigma: float, cond: Conditioning) -> dict:
        step, steps = self.step_of(float(sigma))
        down_total: list[torch.Tensor] | None = None
        mid_total: torch.Tensor | None = None
        for control in self.active:
            unit = control.unit
            if step / steps < unit.start or (step + 1) / steps > unit.end or unit.weight == 0:
                continue
            down, mid = control.loaded.net(x, control.hint_for(x), t, cond.context, cond.y)
            scales = control.scales(len(down) + 1)
            down = [d * s for d, s in zip(down, scales, strict=False)]
            mid = mid * scales[-1]
            if unit.mode == "control" and cond.cond_rows is not None:
                rows = cond.cond_rows.to(x.dtype)[:, None, None, None]
                down, mid = [d * rows for d in down], mid * rows
            if down_total is None:
                down_total, mid_total = down, mid
            else:
                down_total = [a + b for a, b in zip(down_total, down, strict=True)]
                mid_total = mid_total + mid
        if down_total is None:
            return {}
        return {"down_residuals": down_total, "mid_residual": mid_total}


def mark_rows(
    positive: Conditioning, negative: Conditioning | None
) -> tuple[Conditioning, Conditioning | None]:
    """Tag the conditional rows (1) and the unconditional ones (0), for the "control" mode."""

    def tagged(cond: Conditioning, value: float) -> Conditioning:
        rows = cond.context if cond.context is not None else cond.concat
        batch = rows.shape[0] if rows is not None else 1
        return dataclasses.replace(
            cond, cond_rows=torch.full((batch,), value, device=rows.device if rows is not None else None)
        )

    return tagged(positive, 1.0), (tagged(negative, 0.0) if negative is not None else None)


def prepare_controls(model, request: GenerationRequest) -> Controls | None:
    """The request's ControlNets checked against `model`, loaded, with their control images (None: none)."""
    if not request.controlnets:
        return None
    if request.mode == "inpaint" and request.inpaint_only_masked:
        raise InputError(
            "ControlNets with 'only masked' inpainting are not supported yet: inpaint the whole picture"
        )
    active, notes = [], []
    for index, unit in enumerate(request.controlnets):
        _check_unit(unit, index)
        info = inspect_controlnet(unit.file)
        check_compatible(info, model.config.name, model.config.label, model.config.unet)
        image = control_image(unit, request.width, request.height, index=index, mask=request.mask)
        if image.note:
            notes.append(image.note)
        loaded = _cached(model, Path(unit.file).expanduser())
        hint = torch.from_numpy(image.pixels).permute(2, 0, 1)[None].to(model.device, model.dtype)
        active.append(ActiveControl(unit, loaded, hint))
    # Keep only this request's nets loaded: a ControlNet no longer asked for gives its memory back.
    wanted = {str(Path(unit.file).expanduser()) for unit in request.controlnets}
    cache = model.controlnet_cache
    for key in [k for k in cache if k[0] not in wanted]:
        del cache[key]
    return Controls(active, notes)


def _check_unit(unit: ControlNetUnit, index: int) -> None:
    label = f"ControlNet {index}"
    if unit.mode not in CONTROL_MODES:
        raise InputError(
            f"{label}: control mode must be one of {', '.join(CONTROL_MODES)}, not {unit.mode!r}"
        )
    if not 0.0 <= unit.start < unit.end <= 1.0:
        raise InputError(
            f"{label}: guidance start and end must be 0 <= start < end <= 1, got {unit.start}, {unit.end}"
        )
    if not -10.0 <= unit.weight <= 10.0:
        raise InputError(f"{label}: weight {unit.weight} is out of range (-10 to 10)")


def _cached(model, path: Path) -> LoadedControlNet:
    """The loaded ControlNet for `path`, from the model's cache while the file is unchanged."""
    cache = getattr(model, "controlnet_cache", None)
    if cache is None:
        cache = {}
        model.controlnet_cache = cache
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns, str(model.device), model.dtype)
    if key not in cache:
        for old in [k for k in cache if k[0] == str(path)]:
            del cache[old]
        cache[key] = load_controlnet(path, device=model.device, dtype=model.dtype)
    return cache[key]


def infotext_units(controls: Controls | None) -> dict[str, str]:
    """{"ControlNet 0": "Module: …, Model: name [hash8], Weight: …, …"} as the A1111 extension writes."""
    from ldm_studio.engine.metadata.controlnet_text import format_unit

    if controls is None:
        return {}
    return {
        f"ControlNet {i}": format_unit(c.unit, c.loaded.name, c.loaded.short_hash())
        for i, c in enumerate(controls.active)
    }
