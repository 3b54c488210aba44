"""Reading adapter files: formats per module, family, trigger words, one-line errors; the key map."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from safetensors.torch import save_file

from ldm_studio.engine.adapters.lora_files import check_family, read_adapter_file
from ldm_studio.engine.adapters.lora_keys import KeyMap, diffusers_module_names
from ldm_studio.engine.errors import CheckpointError, InputError
from ldm_studio.engine.nets.configs import UNetConfig
from ldm_studio.engine.nets.unet import UNetModel
from tests.adapter_files import (
    full_tensors,
    loha_tensors,
    lokr_tensors,
    lora_tensors,
    tiny_nets,
    write_lora,
    write_peft,
    write_safetensors_embedding,
    write_tensors,
)

Q = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_formats_per_module_are_told_apart(tmp_path):
    tensors = lora_tensors({"lora_unet_a": (8, 8)}) | loha_tensors({"lora_unet_b": (8, 8)})
    tensors |= lokr_tensors({"lora_unet_c": (8, 8)}, factor=2) | full_tensors({"lora_unet_d": (8, 8)})
    tensors |= {"lora_unet_e.oft_blocks": torch.ones(2, 4, 4), "lora_unet_f.alpha": torch.tensor(1.0)}
    adapter = read_adapter_file(write_tensors(tmp_path / "mixed.safetensors", tensors))
    kinds = {name: m.kind for name, m in adapter.modules.items()}
    assert kinds == {
        "lora_unet_a": "lora",
        "lora_unet_b": "loha",
        "lora_unet_c": "lokr",
        "lora_unet_d": "full",
        "lora_unet_e": "unsupported: oft_blocks",
    }
    assert adapter.modules["lora_unet_a"].alpha == 2.0 and adapter.name == "mixed"


def test_weights_only_pt_and_old_diffusers_names(tmp_path):
    attn = "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_q_lora"
    fc1 = "text_encoder.text_model.encoder.layers.0.mlp.fc1.lora_linear_layer"
    tensors = {
        f"{attn}.down.weight": torch.ones(2, 8),
        f"{attn}.up.weight": torch.ones(8, 2),
        f"{fc1}.down.weight": torch.ones(2, 8),
        f"{fc1}.up.weight": torch.ones(8, 2),
    }
    adapter = read_adapter_file(write_tensors(tmp_path / "old.pt", tensors))
    assert set(adapter.modules) == {Q, "lora_te1_text_model_encoder_layers_0_mlp_fc1"}


def test_peft_alpha_comes_from_the_metadata_or_defaults_to_rank(tmp_path):
    with_alpha = read_adapter_file(
        write_peft(tmp_path / "a.safetensors", {"unet.x.to_q": (8, 8)}, alpha=16.0)
    )
    without = read_adapter_file(write_peft(tmp_path / "b.safetensors", {"unet.x.to_q": (8, 8)}, alpha=None))
    assert with_alpha.modules["lora_unet_x_to_q"].alpha == 16.0
    assert without.modules["lora_unet_x_to_q"].alpha is None


@pytest.mark.parametrize(
    ("shapes", "metadata", "family"),
    [
        ({"lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k": (320, 768)}, {}, "sd1"),
        ({"lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k": (320, 1024)}, {}, "sd2"),
        ({"lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k": (640, 2048)}, {}, "sdxl"),
        ({"lora_te_text_model_encoder_layers_0_self_attn_q_proj": (1024, 1024)}, {}, "sd2"),
        ({"lora_te_text_model_encoder_layers_0_self_attn_q_proj": (768, 768)}, {}, "sd1"),
        ({"lora_te2_text_model_encoder_layers_0_self_attn_q_proj": (1280, 1280)}, {}, "sdxl"),
        ({"lora_unet_a": (8, 8)}, {"ss_base_model_version": "sdxl_base_v1-0"}, "sdxl"),
        ({"lora_unet_a": (8, 8)}, {"modelspec.architecture": "stable-diffusion-v2-512/lora"}, "sd2"),
        ({"lora_unet_a": (8, 8)}, {"ss_base_model_version": "sd_v1"}, "sd1"),
        ({"lora_unet_a": (8, 8)}, {}, None),
    ],
)
def test_family_from_shapes_then_metadata(tmp_path, shapes, metadata, family):
    adapter = read_adapter_file(write_lora(tmp_path / "f.safetensors", shapes, rank=1, metadata=metadata))
    assert adapter.family == family


def test_family_mismatch_names_both(tmp_path):
    shapes = {"lora_te2_text_model_encoder_layers_0_self_attn_q_proj": (8, 8)}
    adapter = read_adapter_file(write_lora(tmp_path / "xl.safetensors", shapes))
    with pytest.raises(InputError) as exc:
        check_family(adapter, "sd1")
    assert _one_line(exc) == "LoRA 'xl' is for SDXL, the loaded model is SD 1.x"
    check_family(adapter, "sdxl")


def test_trigger_words_from_tag_frequency(tmp_path):
    tags = {"10_style": {"mystyle": 30, "1girl": 12}, "5_extra": {"1girl": 20, " outdoors ": 3}}
    path = write_lora(
        tmp_path / "t.safetensors", {Q: (8, 8)}, metadata={"ss_tag_frequency": json.dumps(tags)}
    )
    assert read_adapter_file(path).trigger_words == ["1girl", "mystyle", "outdoors"]


# ---- bad input: one line each ----


def test_a_checkpoint_is_refused(tmp_path):
    path = tmp_path / "model.safetensors"
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.ones(4, 4, 3, 3)}, str(path))
    with pytest.raises(InputError) as exc:
        read_adapter_file(path)
    assert "model.safetensors is a model checkpoint, not a LoRA" in _one_line(exc)


def test_an_embedding_is_refused_as_a_lora(tmp_path):
    with pytest.raises(InputError) as exc:
        read_adapter_file(write_safetensors_embedding(tmp_path / "emb.safetensors", torch.ones(2, 8)))
    assert "textual-inversion embedding" in _one_line(exc)


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_a_truncated_file_is_refused(tmp_path, suffix):
    path = write_lora(tmp_path / f"cut{suffix}", {Q: (64, 64)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as exc:
        read_adapter_file(path)
    assert f"cut{suffix} is damaged or truncated" in _one_line(exc)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_values_are_refused(tmp_path, bad):
    tensors = lora_tensors({Q: (8, 8)})
    tensors[f"{Q}.lora_up.weight"][3, 1] = bad
    with pytest.raises(InputError) as exc:
        read_adapter_file(write_tensors(tmp_path / "nan.safetensors", tensors))
    assert f"nan.safetensors holds NaN or infinite values ({Q}.up)" in _one_line(exc)


def test_no_lora_keys(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"something.else": torch.ones(3)}, str(path))
    with pytest.raises(InputError) as exc:
        read_adapter_file(path)
    assert _one_line(exc) == "other.safetensors holds no LoRA weights (none of its 1 tensors is one)"


def test_a_pickle_that_needs_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"lora_unet_a.lora_down.weight": torch.ones(1), "x": replace}, str(path))
    with pytest.raises(CheckpointError) as exc:
        read_adapter_file(path)
    assert "evil.pt needs code to unpickle" in _one_line(exc)


# ---- key map ----


@pytest.mark.parametrize(
    "config",
    [
        UNetConfig(
            model_channels=32,
            channel_mult=(1, 2, 2),
            attention_resolutions=(2, 1),
            num_heads=8,
            context_dim=32,
        ),
        # SDXL's structure: no attention at level 0, 2-deep linear transformers, 64-wide heads, 3 levels.
        UNetConfig(
            model_channels=32,
            channel_mult=(1, 2, 4),
            attention_resolutions=(4, 2),
            num_heads=-1,
            num_head_channels=32,
            context_dim=64,
            use_linear_in_transformer=True,
            transformer_depth=2,
            legacy=False,
        ),
        UNetConfig(
            model_channels=32,
            channel_mult=(1, 1, 2, 2),
            num_res_blocks=3,
            attention_resolutions=(1, 4),
            num_heads=4,
            context_dim=32,
        ),
    ],
)
def test_diffusers_names_agree_with_diffusers_own_converter(config):
    single_file = pytest.importorskip("diffusers.loaders.single_file_utils")
    from tests.engine.reference_convert import UNET_PREFIX, original_config, randomize_, with_prefix

    unet = randomize_(UNetModel(config))
    checkpoint = with_prefix(unet.state_dict(), UNET_PREFIX)
    diffusers_config = single_file.create_unet_diffusers_config_from_ldm(original_config(config), checkpoint)
    converted = single_file.convert_ldm_unet_checkpoint(checkpoint, diffusers_config)
    names = diffusers_module_names(unet)
    weights = [n for n, p in unet.named_parameters() if n.endswith(".weight") and p.ndim >= 2]
    assert len(names) == len(weights)
    for ours, theirs in names.items():
        assert torch.equal(converted[theirs + ".weight"], unet.get_parameter(ours + ".weight")), (
            ours,
            theirs,
        )


def test_key_map_resolves_every_spelling_of_one_layer():
    _, unet, _, text = tiny_nets("sd1")
    key_map = KeyMap({"unet": unet, "te1": text})
    want = ("input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight",)
    for name in (
        "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k",  # kohya SD1 (diffusers names)
        "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k",  # sd-scripts SDXL (original names)
        "down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k",  # a bare diffusers path
    ):
        assert key_map.resolve(name).params == want, name
    text_target = key_map.resolve("lora_te1_text_model_encoder_layers_1_mlp_fc2")
    assert text_target.component == "te1" and text_target.params == (
        "transformer.encoder.layers.1.mlp.fc2.weight",
    )
    assert key_map.resolve("lora_te2_text_model_encoder_layers_1_mlp_fc2") is None  # no second encoder
