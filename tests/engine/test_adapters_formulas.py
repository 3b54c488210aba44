"""LoRA Tucker, LoHa, LoKr, full diff and DoRA merges against the published formulas, written out here
independently of ldm_studio.engine.adapters.deltas (loops over factor entries, convs run as layers).

Modules are named the original (SDXL sd-scripts) way, so these also cover the original-name mapping.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ldm_studio.engine.adapters.lora_files import read_adapter_file
from ldm_studio.engine.adapters.merge import AdapterMerger
from tests.adapter_files import (
    full_tensors,
    loha_tensors,
    lokr_tensors,
    lora_tensors,
    tiny_nets,
    write_tensors,
)

LINEAR = "input_blocks.1.1.transformer_blocks.0.attn1.to_q"  # [32, 32]
CONV3 = "input_blocks.4.0.in_layers.2"  # [64, 32, 3, 3]
CONV1 = "input_blocks.1.1.proj_in"  # [32, 32, 1, 1] (SD1: a 1x1 conv)
FF = "input_blocks.5.1.transformer_blocks.0.ff.net.0.proj"  # [512, 64]


def _kohya(path: str) -> str:
    return "lora_unet_" + path.replace(".", "_")


def _merge(tmp_path, tensors: dict, multiplier: float = 1.0, name: str = "a"):
    _, unet, _, _ = tiny_nets("sd1")
    before = {k: v.clone() for k, v in unet.state_dict().items()}
    path = write_tensors(tmp_path / f"{name}.safetensors", tensors)
    (report,) = AdapterMerger({"unet": unet}).apply([(read_adapter_file(path), multiplier, multiplier)])
    assert report.message() is None, report.message()
    return unet, before


def _delta(unet, before, path: str) -> torch.Tensor:
    return unet.get_parameter(path + ".weight").detach() - before[path + ".weight"]


def _shapes(unet, *paths: str) -> dict:
    return {_kohya(p): tuple(unet.get_parameter(p + ".weight").shape) for p in paths}


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    assert a.shape == b.shape
    assert b.abs().max().item() > 1e-3, "the reference delta is ~0: the check would prove nothing"
    assert (a - b).abs().max().item() <= 2e-6 * max(1.0, b.abs().max().item())


def test_tucker_locon_equals_the_three_convs_it_replaces(tmp_path):
    _, unet, _, _ = tiny_nets("sd1")
    tensors = lora_tensors(_shapes(unet, CONV3), rank=3, alpha=1.5, tucker=True)
    unet, before = _merge(tmp_path, tensors, multiplier=0.8)
    k = _kohya(CONV3)
    down, mid, up = (tensors[f"{k}.lora_{n}.weight"] for n in ("down", "mid", "up"))
    x = torch.randn(1, 32, 9, 9, generator=torch.Generator().manual_seed(5))
    adapter_path = F.conv2d(F.conv2d(F.conv2d(x, down), mid, padding=1), up)
    merged_delta = F.conv2d(x, _delta(unet, before, CONV3), padding=1)
    _close(merged_delta, 0.8 * (1.5 / 3) * adapter_path)


def test_lora_on_a_1x1_conv_and_conv_lora_on_a_linear(tmp_path):
    _, unet, _, _ = tiny_nets("sd1")
    tensors = lora_tensors({_kohya(CONV1): (32, 32)}, rank=4, alpha=4.0)  # a linear LoRA on a 1x1 conv
    tensors |= lora_tensors({_kohya(LINEAR): (32, 32, 1, 1)}, rank=4, alpha=4.0, seed=1)  # and back
    unet, before = _merge(tmp_path, tensors)
    for path, dims in ((CONV1, (32, 32, 1, 1)), (LINEAR, (32, 32))):
        up, down = tensors[f"{_kohya(path)}.lora_up.weight"], tensors[f"{_kohya(path)}.lora_down.weight"]
        _close(_delta(unet, before, path), (up.reshape(32, 4) @ down.reshape(4, 32)).reshape(dims))


@pytest.mark.parametrize("tucker", [False, True])
def test_loha(tmp_path, tucker):
    _, unet, _, _ = tiny_nets("sd1")
    tensors = loha_tensors(_shapes(unet, LINEAR, CONV3), rank=3, alpha=1.0, tucker=tucker)
    unet, before = _merge(tmp_path, tensors, multiplier=0.6)
    for path in (LINEAR, CONV3):
        k = _kohya(path)
        shape = before[path + ".weight"].shape

        def factor(n: str, k=k, shape=shape):
            a, b = tensors[f"{k}.hada_w{n}_a"], tensors[f"{k}.hada_w{n}_b"]
            core = tensors.get(f"{k}.hada_t{n}")
            if core is None:
                return (a @ b).reshape(shape)
            # Tucker: W[p, c, h, w] = Σ_ij t[i, j, h, w] · a[i, p] · b[j, c]
            out = torch.zeros(shape)
            for i in range(core.shape[0]):
                for j in range(core.shape[1]):
                    out += torch.outer(a[i], b[j])[:, :, None, None] * core[i, j][None, None]
            return out

        expected = 0.6 * (1.0 / 3) * factor("1") * factor("2")
        _close(_delta(unet, before, path), expected)


def _kron_by_blocks(w1: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
    """W = [w1[i, j] · w2] laid out block by block (the Kronecker product, written out)."""
    rows = []
    for i in range(w1.shape[0]):
        rows.append(torch.cat([w1[i, j] * w2 for j in range(w1.shape[1])], dim=1))
    return torch.cat(rows, dim=0)


@pytest.mark.parametrize("decompose", ["", "w2", "w1w2", "tucker"])
def test_lokr_and_its_scale_rule(tmp_path, decompose):
    _, unet, _, _ = tiny_nets("sd1")
    path = CONV3 if decompose == "tucker" else FF
    tensors = lokr_tensors(_shapes(unet, path), factor=4, rank=2, alpha=3.0, decompose=decompose)
    unet, before = _merge(tmp_path, tensors, multiplier=0.5)
    k = _kohya(path)
    t = tensors
    w1 = t[f"{k}.lokr_w1"] if f"{k}.lokr_w1" in t else t[f"{k}.lokr_w1_a"] @ t[f"{k}.lokr_w1_b"]
    if f"{k}.lokr_w2" in t:
        w2 = t[f"{k}.lokr_w2"]
    elif decompose == "tucker":
        a, b, core = t[f"{k}.lokr_w2_a"], t[f"{k}.lokr_w2_b"], t[f"{k}.lokr_t2"]
        w2 = sum(
            torch.outer(a[i], b[j])[:, :, None, None] * core[i, j][None, None]
            for i in range(2)
            for j in range(2)
        )
    else:
        w2 = t[f"{k}.lokr_w2_a"] @ t[f"{k}.lokr_w2_b"]
    # LyCORIS: alpha / rank only when a factor is decomposed; two whole factors ignore alpha.
    scale = 1.0 if decompose == "" else 3.0 / 2
    if w2.ndim == 4:
        expected = torch.stack(
            [torch.stack([_kron_by_blocks(w1, w2[:, :, h, w]) for w in range(3)], -1) for h in range(3)], -2
        )
    else:
        expected = _kron_by_blocks(w1, w2)
    _close(_delta(unet, before, path), 0.5 * scale * expected)


def test_full_diff_with_bias(tmp_path):
    _, unet, _, _ = tiny_nets("sd1")
    tensors = full_tensors(_shapes(unet, CONV3, FF), bias=True)
    unet, before = _merge(tmp_path, tensors, multiplier=0.5)
    for path in (CONV3, FF):
        _close(_delta(unet, before, path), 0.5 * tensors[f"{_kohya(path)}.diff"])
        bias = unet.get_parameter(path + ".bias").detach() - before[path + ".bias"]
        _close(bias, 0.5 * tensors[f"{_kohya(path)}.diff_b"])


@pytest.mark.parametrize("axis", ["out", "in"])
@pytest.mark.parametrize("multiplier", [1.0, 0.5])
def test_dora(tmp_path, axis, multiplier):
    _, unet, _, _ = tiny_nets("sd1")
    tensors = lora_tensors(_shapes(unet, LINEAR, CONV3), rank=4, alpha=2.0, dora=axis)
    unet, before = _merge(tmp_path, tensors, multiplier=multiplier)
    for path in (LINEAR, CONV3):
        k = _kohya(path)
        w = before[path + ".weight"]
        up, down = tensors[f"{k}.lora_up.weight"], tensors[f"{k}.lora_down.weight"]
        v = w + 0.5 * (up.flatten(1) @ down.flatten(1)).reshape(w.shape)
        m = tensors[f"{k}.dora_scale"]
        if axis == "out":  # one norm per output row, over everything else
            norm = torch.stack([v[o].norm() for o in range(v.shape[0])]).reshape(m.shape)
        else:  # one norm per input channel, over outputs and kernel
            norm = torch.stack([v[:, c].norm() for c in range(v.shape[1])]).reshape(m.shape)
        expected = w + multiplier * (m * v / norm - w)
        merged = unet.get_parameter(path + ".weight").detach()
        _close(merged - w, expected - w)
