"""ΔW in float32 for each adapter format (the multiplier is applied by the caller).

- LoRA / LoCon: (alpha / r) · up @ down, r = down's rows, alpha absent → r. Convs are flattened to
  [out, in·kh·kw] and reshaped to the weight's shape, so a linear LoRA fits a 1x1 conv and back.
  Tucker (`lora_mid` [r, r, kh, kw], down/up 1x1): W[p, c] = Σ up[p, i] · mid[i, j] · down[j, c].
- LoHa: (w1a @ w1b) ⊙ (w2a @ w2b) · alpha / r, r = w1b's rows; with Tucker cores `hada_t1/t2`
  each factor is einsum(t, w_b, w_a) (w_a [r, out], w_b [r, in]).
- LoKr: kron(w1, w2) · scale, each factor stored whole or as a @ b (w2 also as a Tucker core `lokr_t2`);
  scale = alpha / r only when a factor is decomposed (r = the rows of its `_b`), else 1 (LyCORIS).
- full: `diff` as is (and `diff_b` for the bias).
- DoRA (`dora_scale`, the magnitude m): W' = W + mult · (m · V / ‖V‖ − W) with V = W + ΔW; the norm is
  per output row when m has one value per row (LyCORIS' wd_on_out, PEFT), else per input column (the
  [1, in] layout of older kohya / LyCORIS files). At mult 1 this is the DoRA paper's m · V / ‖V‖.
"""

from __future__ import annotations

import torch

from ldm_studio.engine.adapters.lora_files import AdapterModule


def _f32(t: torch.Tensor) -> torch.Tensor:
    return t if t.dtype == torch.float32 else t.float()


def lora_scale(module: AdapterModule) -> float:
    """alpha / r for LoRA and LoHa; LoKr's rule; 1 for a full diff."""
    t, alpha = module.tensors, module.alpha
    if module.kind == "lora":
        rank = t["down"].shape[0]
    elif module.kind == "loha":
        rank = t["hada_w1_b"].shape[0]
    elif module.kind == "lokr":
        b = t.get("lokr_w1_b") if "lokr_w1_b" in t else t.get("lokr_w2_b")
        if b is None or alpha is None:
            return 1.0
        rank = b.shape[0]
    else:
        return 1.0
    return 1.0 if alpha is None or alpha == 0 else alpha / rank


def lora_factors(module: AdapterModule) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(up [out, r], down [r, in·kh·kw]) in float32 for a plain (non-Tucker) LoRA, else None."""
    t = module.tensors
    if module.kind != "lora" or "mid" in t:
        return None
    return _f32(t["up"]).flatten(1), _f32(t["down"]).flatten(1)


def delta_weight(module: AdapterModule, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """ΔW [shape] in float32, scale included, multiplier not. ValueError when it cannot fit `shape`."""
    delta = _raw_delta(module, shape) * lora_scale(module)
    if delta.numel() != _numel(shape):
        raise ValueError(f"its ΔW {tuple(delta.shape)} does not fit the weight {tuple(shape)}")
    return delta.reshape(shape)


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _raw_delta(module: AdapterModule, shape) -> torch.Tensor:
    t = module.tensors
    if module.kind == "lora":
        up, down = _f32(t["up"]).flatten(1), _f32(t["down"])
        if "mid" in t:
            return torch.einsum("pi,ij...,jc->pc...", up, _f32(t["mid"]), down.flatten(1))
        return up @ down.flatten(1)
    if module.kind == "loha":
        return _loha_factor(t, "1", shape) * _loha_factor(t, "2", shape)
    if module.kind == "lokr":
        return _lokr(t, shape)
    if module.kind == "full":
        return _f32(t["diff"])
    raise ValueError(f"format {module.kind!r} cannot be merged")


def _loha_factor(t: dict, i: str, shape) -> torch.Tensor:
    a, b = _f32(t[f"hada_w{i}_a"]), _f32(t[f"hada_w{i}_b"])
    core = t.get(f"hada_t{i}")
    if core is not None:
        return torch.einsum("ij...,jr,ip->pr...", _f32(core), b, a)
    return (a @ b.flatten(1)).reshape(shape[0], -1)


def _lokr(t: dict, shape) -> torch.Tensor:
    w1 = _f32(t["lokr_w1"]) if "lokr_w1" in t else _f32(t["lokr_w1_a"]) @ _f32(t["lokr_w1_b"])
    if "lokr_w2" in t:
        w2 = _f32(t["lokr_w2"])
    elif "lokr_t2" in t:
        w2 = torch.einsum(
            "ij...,ip,jr->pr...", _f32(t["lokr_t2"]), _f32(t["lokr_w2_a"]), _f32(t["lokr_w2_b"])
        )
    else:
        a, b = _f32(t["lokr_w2_a"]), _f32(t["lokr_w2_b"])
        w2 = (a @ b.flatten(1)).reshape(a.shape[0], *b.shape[1:])
    if len(shape) > 2 and w2.ndim == 2:
        w2 = w2.reshape(*w2.shape, *([1] * (len(shape) - 2)))  # a linear factor on a 1x1 conv
    while w1.ndim < w2.ndim:
        w1 = w1.unsqueeze(-1)
    return torch.kron(w1.contiguous(), w2.contiguous())  # kron views its inputs: einsum outputs are not


def apply_dora(
    weight: torch.Tensor, delta: torch.Tensor, magnitude: torch.Tensor, multiplier: float
) -> torch.Tensor:
    """DoRA on float32 `weight` (W) with ΔW `delta` (scaled, not multiplied): W + mult · (m·V/‖V‖ − W)."""
    merged = weight + delta
    out = weight.shape[0]
    flat = merged.reshape(out, -1)
    m = _f32(magnitude)
    if m.numel() == out and (m.ndim == 1 or m.shape[0] == out):
        norm = flat.norm(dim=1, keepdim=True)
        scaled = flat * (m.reshape(out, 1) / norm)
    else:
        columns = merged.shape[1]
        per_in = merged.transpose(0, 1).reshape(columns, -1).norm(dim=1)  # one norm per input channel
        shape = [1, columns] + [1] * (merged.ndim - 2)
        scaled = merged * (m.reshape(shape) / per_in.reshape(shape))
        scaled = scaled.reshape(out, -1)
    result = weight.reshape(out, -1) + multiplier * (scaled - weight.reshape(out, -1))
    return result.reshape(weight.shape)
