"""kohya and PEFT LoRA files merged by us equal diffusers' `load_lora_weights` + `fuse_lora` on the same file.

Our merged UNet (original layout) goes through diffusers' own single-file converter and is compared key by
key with the fused diffusers UNet; the text encoder against the fused transformers CLIPTextModel. The
file's module names are written here in the diffusers spelling kohya uses for SD 1.x / 2.x, so diffusers'
converter (not our key map) decides which weight each one means.
"""

from __future__ import annotations

import pytest
import torch

from ldm_studio.engine.adapters.lora_files import read_adapter_file
from ldm_studio.engine.adapters.merge import AdapterMerger
from tests.adapter_files import tiny_nets, write_lora, write_peft

diffusers = pytest.importorskip("diffusers")
pytest.importorskip("peft")  # diffusers needs peft for LoRA loading

from diffusers.loaders.single_file_utils import (  # noqa: E402
    convert_ldm_unet_checkpoint,
    create_unet_diffusers_config_from_ldm,
)
from transformers import CLIPTextModel  # noqa: E402

from tests.engine.reference_convert import UNET_PREFIX, diffusers_unet, original_config, with_prefix  # noqa: E402

UNET_MODULES = [
    "conv_in",
    "time_embedding.linear_1",
    "time_embedding.linear_2",
    "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q",
    "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_k",
    "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_v",
    "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0",
    "down_blocks.0.attentions.1.proj_in",
    "down_blocks.0.attentions.1.proj_out",
    "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k",
    "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_v",
    "down_blocks.1.attentions.1.transformer_blocks.0.ff.net.0.proj",
    "down_blocks.1.attentions.1.transformer_blocks.0.ff.net.2",
    "down_blocks.0.resnets.1.conv1",
    "down_blocks.1.resnets.0.conv_shortcut",
    "down_blocks.1.resnets.0.time_emb_proj",
    "down_blocks.2.resnets.1.conv2",
    "down_blocks.0.downsamplers.0.conv",
    "down_blocks.1.downsamplers.0.conv",
    "mid_block.resnets.0.conv1",
    "mid_block.attentions.0.transformer_blocks.0.attn1.to_q",
    "mid_block.resnets.1.conv2",
    "up_blocks.0.resnets.2.conv1",
    "up_blocks.0.upsamplers.0.conv",
    "up_blocks.1.attentions.2.transformer_blocks.0.attn2.to_q",
    "up_blocks.1.upsamplers.0.conv",
    "up_blocks.2.resnets.0.conv_shortcut",
    "up_blocks.2.attentions.1.proj_out",
    "conv_out",
]
TEXT_MODULES = [
    "encoder.layers.0.self_attn.q_proj",
    "encoder.layers.0.self_attn.k_proj",
    "encoder.layers.0.self_attn.v_proj",
    "encoder.layers.0.self_attn.out_proj",
    "encoder.layers.1.mlp.fc1",
    "encoder.layers.1.mlp.fc2",
]


def _references(kind: str):
    unet_config, unet, _text_config, text = tiny_nets(kind)
    reference_unet = diffusers_unet(unet.state_dict(), unet_config)
    reference_text = CLIPTextModel(text.transformer.config)
    weights = {k.removeprefix("transformer."): v.clone() for k, v in text.state_dict().items()}
    reference_text.load_state_dict(weights, strict=False)  # position_ids is a buffer we make
    pipe = diffusers.StableDiffusionPipeline(
        vae=None,
        text_encoder=reference_text.eval(),
        tokenizer=None,
        unet=reference_unet,
        scheduler=None,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    return unet_config, unet, text, pipe


def _ours_in_diffusers_layout(unet, unet_config) -> dict:
    checkpoint = with_prefix(unet.state_dict(), UNET_PREFIX)
    config = create_unet_diffusers_config_from_ldm(original_config(unet_config), checkpoint)
    return convert_ldm_unet_checkpoint(checkpoint, config)


def _fuse(pipe, path, scale: float) -> None:
    pipe.load_lora_weights(str(path), adapter_name="test")
    pipe.fuse_lora(lora_scale=scale)
    pipe.unload_lora_weights()


def _assert_same(ours: dict, theirs: dict, before: dict, touched: int) -> None:
    changed = 0
    for key, reference in theirs.items():
        if key.endswith("position_ids"):
            continue
        assert ours[key].shape == reference.shape, key
        assert (ours[key] - reference).abs().max().item() <= 1e-6, key
        changed += int((reference - before[key]).abs().max().item() > 1e-3)
    assert changed == touched, "every module of the file must have changed its weight (and nothing else)"


@pytest.mark.parametrize("kind", ["sd1", "sd2"])
@pytest.mark.parametrize("alpha", [2.0, None])
def test_kohya_lora_and_locon_match_diffusers_fuse(tmp_path, kind, alpha):
    unet_config, unet, text, pipe = _references(kind)
    shapes = {
        "lora_unet_" + m.replace(".", "_"): tuple(pipe.unet.get_submodule(m).weight.shape)
        for m in UNET_MODULES
    }
    shapes |= {
        "lora_te_text_model_" + m.replace(".", "_"): tuple(pipe.text_encoder.get_submodule(m).weight.shape)
        for m in TEXT_MODULES
    }
    path = write_lora(tmp_path / "style.safetensors", shapes, rank=4, alpha=alpha)
    unet_before = {k: v.clone() for k, v in pipe.unet.state_dict().items()}
    text_before = {k: v.clone() for k, v in pipe.text_encoder.state_dict().items()}

    _fuse(pipe, path, 0.7)
    merger = AdapterMerger({"unet": unet, "te1": text})
    (report,) = merger.apply([(read_adapter_file(path), 0.7, 0.7)])

    assert report.message() is None and report.merged == len(shapes)
    _assert_same(
        _ours_in_diffusers_layout(unet, unet_config), pipe.unet.state_dict(), unet_before, len(UNET_MODULES)
    )
    ours_text = {k.removeprefix("transformer."): v for k, v in text.state_dict().items()}
    _assert_same(ours_text, pipe.text_encoder.state_dict(), text_before, len(TEXT_MODULES))


def test_peft_file_matches_diffusers_fuse(tmp_path):
    unet_config, unet, text, pipe = _references("sd1")
    shapes = {"unet." + m: tuple(pipe.unet.get_submodule(m).weight.shape) for m in UNET_MODULES[3:18]}
    shapes |= {
        "text_encoder." + m: tuple(pipe.text_encoder.get_submodule(m).weight.shape) for m in TEXT_MODULES
    }
    path = write_peft(tmp_path / "pytorch_lora_weights.safetensors", shapes, rank=4, alpha=8.0,
                      parts=("unet", "text_encoder"))  # fmt: skip
    unet_before = {k: v.clone() for k, v in pipe.unet.state_dict().items()}
    text_before = {k: v.clone() for k, v in pipe.text_encoder.state_dict().items()}

    _fuse(pipe, path, 1.0)
    adapter = read_adapter_file(path)
    assert {m.alpha for m in adapter.modules.values()} == {8.0}
    (report,) = AdapterMerger({"unet": unet, "te1": text}).apply([(adapter, 1.0, 1.0)])

    assert report.message() is None
    _assert_same(_ours_in_diffusers_layout(unet, unet_config), pipe.unet.state_dict(), unet_before, 15)
    ours_text = {k.removeprefix("transformer."): v for k, v in text.state_dict().items()}
    _assert_same(ours_text, pipe.text_encoder.state_dict(), text_before, len(TEXT_MODULES))


def test_merged_unet_output_matches_fused_diffusers_unet(tmp_path):
    """The end-to-end view of the same fact: both merged UNets predict the same noise."""
    _unet_config, unet, _text, pipe = _references("sd1")
    shapes = {
        "lora_unet_" + m.replace(".", "_"): tuple(pipe.unet.get_submodule(m).weight.shape)
        for m in UNET_MODULES
    }
    path = write_lora(tmp_path / "style.safetensors", shapes, rank=8, alpha=4.0)
    _fuse(pipe, path, 1.0)
    AdapterMerger({"unet": unet}).apply([(read_adapter_file(path), 1.0, 1.0)])

    gen = torch.Generator().manual_seed(3)
    x, context = torch.randn(1, 4, 16, 16, generator=gen), torch.randn(1, 7, 32, generator=gen)
    with torch.no_grad():
        ours = unet(x, torch.tensor([500.0]), context)
        theirs = pipe.unet(x, torch.tensor([500.0]), encoder_hidden_states=context).sample
    scale = theirs.abs().max().item()
    assert scale > 0.1
    assert (ours - theirs).abs().max().item() <= 1e-4 * scale
