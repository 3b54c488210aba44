"""Merging with an exact undo: removing adapters restores every parameter bit for bit (fp32 and fp16),
a changed multiplier equals a fresh merge, two LoRAs add, text and UNet multipliers act separately."""

from __future__ import annotations

import pytest
import torch

from ldm_studio.engine.adapters.lora_files import read_adapter_file
from ldm_studio.engine.adapters.merge import AdapterMerger
from tests.adapter_files import loha_tensors, tiny_nets, write_lora, write_tensors

UNET = {
    "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q": (32, 32),
    "lora_unet_down_blocks_1_attentions_1_transformer_blocks_0_attn2_to_k": (64, 32),
    "lora_unet_down_blocks_1_resnets_0_conv1": (64, 32, 3, 3),
    "lora_unet_mid_block_attentions_0_proj_in": (64, 64, 1, 1),
    "lora_unet_up_blocks_1_upsamplers_0_conv": (64, 64, 3, 3),
}
TEXT = {
    "lora_te_text_model_encoder_layers_0_self_attn_q_proj": (32, 32),
    "lora_te_text_model_encoder_layers_1_mlp_fc2": (32, 64),
}


def _nets(dtype=torch.float32):
    _, unet, _, text = tiny_nets("sd1")
    return unet.to(dtype), text.to(dtype)


def _snapshot(*modules) -> list[dict]:
    return [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in modules]


def _assert_equal(modules, snapshots) -> None:
    for module, snapshot in zip(modules, snapshots, strict=True):
        for key, value in module.state_dict().items():
            assert torch.equal(value, snapshot[key]), key


@pytest.fixture
def files(tmp_path):
    a = read_adapter_file(write_lora(tmp_path / "a.safetensors", UNET | TEXT, rank=4, alpha=2.0, seed=1))
    b = read_adapter_file(write_tensors(tmp_path / "b.safetensors", loha_tensors(UNET, rank=2, seed=2)))
    return a, b


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_removing_every_adapter_restores_the_weights_bit_for_bit(files, dtype):
    a, b = files
    unet, text = _nets(dtype)
    original = _snapshot(unet, text)
    merger = AdapterMerger({"unet": unet, "te1": text})
    merger.apply([(a, 1.0, 1.0)])
    changed = unet.get_parameter("input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight")
    assert not torch.equal(changed, original[0]["input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight"])
    merger.apply([(a, 0.3, 0.9), (b, 1.0, -0.5)])
    merger.apply([(b, 1.0, 1.0)])
    merger.clear()
    _assert_equal((unet, text), original)
    assert merger.touched == 0 and merger.original_bytes == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_a_changed_multiplier_equals_a_fresh_merge(files, dtype):
    a, b = files
    unet, text = _nets(dtype)
    merger = AdapterMerger({"unet": unet, "te1": text})
    merger.apply([(a, 1.0, 1.0)])
    merger.apply([(a, 0.4, 0.7), (b, 1.0, 0.5)])

    fresh_unet, fresh_text = _nets(dtype)
    AdapterMerger({"unet": fresh_unet, "te1": fresh_text}).apply([(a, 0.4, 0.7), (b, 1.0, 0.5)])
    _assert_equal((unet, text), _snapshot(fresh_unet, fresh_text))


def test_two_loras_add_and_the_sum_is_cast_once(tmp_path):
    a = read_adapter_file(write_lora(tmp_path / "a.safetensors", UNET, rank=4, alpha=4.0, seed=1))
    b = read_adapter_file(write_lora(tmp_path / "b.safetensors", UNET, rank=2, alpha=2.0, seed=2))
    unet, _ = _nets(torch.float16)
    original = _snapshot(unet)[0]
    AdapterMerger({"unet": unet}).apply([(a, 1.0, 0.8), (b, 1.0, 0.6)])
    key = "input_blocks.4.0.in_layers.2.weight"  # down_blocks.1.resnets.0.conv1
    name = "lora_unet_down_blocks_1_resnets_0_conv1"
    delta = torch.zeros(64, 32 * 9)
    for adapter, m in ((a, 0.8), (b, 0.6)):
        up = adapter.modules[name].tensors["up"].flatten(1)
        down = adapter.modules[name].tensors["down"].flatten(1)
        delta += m * (up @ down)
    expected = (original[key].float() + delta.reshape(64, 32, 3, 3)).half()
    merged = unet.get_parameter(key).detach()
    # One rounding to half at the end: at most one half-ulp step away from the float32 sum's rounding.
    assert (merged.float() - expected.float()).abs().max().item() <= 2e-3
    assert (merged.float() - original[key].float()).abs().max().item() > 1e-2


def test_text_and_unet_multipliers_act_separately(files):
    a, _ = files
    unet, text = _nets()
    original = _snapshot(unet, text)
    merger = AdapterMerger({"unet": unet, "te1": text})
    merger.apply([(a, 0.0, 1.0)])
    _assert_equal((text,), original[1:])
    merger.apply([(a, 1.0, 0.0)])
    _assert_equal((unet,), original[:1])
    assert merger.touched == len(TEXT)


def test_undo_memory_is_the_touched_weights_only(files):
    a, _ = files
    unet, text = _nets(torch.float16)
    merger = AdapterMerger({"unet": unet, "te1": text})
    merger.apply([(a, 1.0, 1.0)])
    sizes = [(o * i * (k[0] * k[1] if k else 1)) * 2 for o, i, *k in (UNET | TEXT).values()]
    assert merger.touched == len(UNET) + len(TEXT)
    assert merger.original_bytes == sum(sizes)


def test_modules_that_match_nothing_are_counted_and_reported(tmp_path):
    shapes = UNET | {
        "lora_unet_down_blocks_7_attentions_0_proj_in": (32, 32),
        "lora_te2_text_model_x": (8, 8),
    }
    adapter = read_adapter_file(write_lora(tmp_path / "odd.safetensors", shapes))
    unet, text = _nets()
    (report,) = AdapterMerger({"unet": unet, "te1": text}).apply([(adapter, 1.0, 1.0)])
    assert report.merged == len(UNET)
    assert report.message().startswith("LoRA 'odd': 2 of 7 modules not found")


def test_a_module_whose_shape_does_not_fit_is_reported_not_merged(tmp_path):
    adapter = read_adapter_file(
        write_lora(
            tmp_path / "wrong.safetensors", {"lora_unet_down_blocks_1_resnets_0_conv1": (64, 16, 3, 3)}
        )
    )
    unet, text = _nets()
    original = _snapshot(unet)
    (report,) = AdapterMerger({"unet": unet, "te1": text}).apply([(adapter, 1.0, 1.0)])
    assert report.merged == 0 and "1 of 1 modules not applied" in report.message()
    _assert_equal((unet,), original)


def test_open_clip_in_proj_lora_lands_on_the_q_k_v_rows(tmp_path):
    _, _, _, text = tiny_nets("sd2")
    before = _snapshot(text)[0]
    name = "lora_te_model_transformer_resblocks_1_attn_in_proj"
    adapter = read_adapter_file(write_lora(tmp_path / "oc.safetensors", {name: (96, 32)}, rank=4, alpha=4.0))
    # Layer 2 of this 3-layer penultimate encoder is never built: counted as unused, not as missing.
    unused = write_lora(
        tmp_path / "last.safetensors", {"lora_te_text_model_encoder_layers_2_mlp_fc1": (64, 32)}
    )
    reports = AdapterMerger({"te1": text}).apply([(adapter, 1.0, 1.0), (read_adapter_file(unused), 1.0, 1.0)])
    assert reports[0].message() is None and reports[1].unused == 1 and reports[1].message() is None
    module = adapter.modules[name.replace("lora_te_", "lora_te1_")]  # SD1/SD2 `lora_te_` = SDXL's te1
    up, down = module.tensors["up"], module.tensors["down"]
    delta = up @ down
    for i, part in enumerate("qkv"):
        key = f"transformer.encoder.layers.1.self_attn.{part}_proj.weight"
        got = text.get_parameter(key).detach() - before[key]
        assert (got - delta[32 * i : 32 * (i + 1)]).abs().max().item() <= 1e-6


def test_applying_the_same_set_again_is_free_and_changes_nothing(files):
    a, _ = files
    unet, text = _nets()
    merger = AdapterMerger({"unet": unet, "te1": text})
    merger.apply([(a, 1.0, 1.0)])
    once = _snapshot(unet, text)
    merger.apply([(a, 1.0, 1.0)])
    _assert_equal((unet, text), once)
