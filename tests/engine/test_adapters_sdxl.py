"""An sd-scripts SDXL LoRA (original UNet names, `lora_te1_` / `lora_te2_`) merged by us equals diffusers'
StableDiffusionXLPipeline `load_lora_weights` + `fuse_lora` on the tiny SDXL model (no attention at level 0,
per-level transformer depth, label_emb, CLIP-L + bigG)."""

from __future__ import annotations

import pytest

from ldm_studio.engine.adapters.lora_files import read_adapter_file
from ldm_studio.engine.adapters.merge import AdapterMerger
from tests.adapter_files import write_lora

diffusers = pytest.importorskip("diffusers")
pytest.importorskip("peft")

from ldm_studio.engine.nets.text import TextEncoder, text_state_dict_from_checkpoint  # noqa: E402
from ldm_studio.engine.nets.unet import UNetModel  # noqa: E402
from tests.engine import diffusers_sdxl  # noqa: E402
from tests.sdxl_checkpoints import (  # noqa: E402
    CLIP_L_PREFIX,
    UNET_PREFIX,
    tiny_sdxl_parts,
    tiny_sdxl_state_dict,
    write_tiny_sdxl_checkpoint,
)

UNET_MODULES = [
    "input_blocks.0.0",
    "time_embed.0",
    "label_emb.0.0",
    "label_emb.0.2",
    "input_blocks.1.0.in_layers.2",
    "input_blocks.3.0.op",
    "input_blocks.4.0.skip_connection",
    "input_blocks.4.1.proj_in",
    "input_blocks.4.1.transformer_blocks.1.attn2.to_k",
    "input_blocks.5.1.transformer_blocks.0.attn1.to_out.0",
    "input_blocks.8.1.transformer_blocks.2.ff.net.0.proj",
    "middle_block.0.emb_layers.1",
    "middle_block.1.transformer_blocks.2.attn1.to_v",
    "middle_block.2.out_layers.3",
    "output_blocks.2.2.conv",
    "output_blocks.3.1.transformer_blocks.1.ff.net.2",
    "output_blocks.5.1.proj_out",
    "output_blocks.8.0.in_layers.2",
    "out.2",
]
TEXT_MODULES = [
    "encoder.layers.0.self_attn.q_proj",
    "encoder.layers.1.mlp.fc1",
    "encoder.layers.1.self_attn.out_proj",
]


def _ours(checkpoint: dict):
    parts = tiny_sdxl_parts("sdxl")
    unet = UNetModel(parts.unet)
    unet.load_state_dict(
        {k.removeprefix(UNET_PREFIX): v for k, v in checkpoint.items() if k.startswith(UNET_PREFIX)}
    )
    encoders = []
    for config, prefix in ((parts.clip_l, CLIP_L_PREFIX), (parts.bigg, parts.bigg_prefix)):
        text = TextEncoder(config)
        sd = {k.removeprefix(prefix): v for k, v in checkpoint.items() if k.startswith(prefix)}
        text.load_state_dict(text_state_dict_from_checkpoint(sd, config))
        encoders.append(text.eval())
    return unet.eval(), *encoders


def test_sdxl_kohya_lora_matches_diffusers_fuse(tmp_path):
    path = write_tiny_sdxl_checkpoint(tmp_path / "xl.safetensors", "sdxl")
    checkpoint = {k: v.clone() for k, v in tiny_sdxl_state_dict("sdxl").items()}
    unet, te1, te2 = _ours(checkpoint)
    parts = diffusers_sdxl.components(path, "sdxl")
    pipe = diffusers.StableDiffusionXLPipeline(
        **parts, scheduler=None, add_watermarker=False, image_encoder=None, feature_extractor=None
    )

    shapes = {
        "lora_unet_" + m.replace(".", "_"): tuple(unet.get_parameter(m + ".weight").shape)
        for m in UNET_MODULES
    }
    for prefix, text in (("lora_te1_", te1), ("lora_te2_", te2)):
        shapes |= {
            prefix + "text_model_" + m.replace(".", "_"): tuple(
                text.get_parameter(f"transformer.{m}.weight").shape
            )
            for m in TEXT_MODULES
        }
    lora = write_lora(tmp_path / "xl_style.safetensors", shapes, rank=4, alpha=2.0,
                      metadata={"ss_base_model_version": "sdxl_base_v1-0"})  # fmt: skip
    before = {k: v.clone() for k, v in pipe.unet.state_dict().items()}
    pipe.load_lora_weights(str(lora), adapter_name="test")
    pipe.fuse_lora(lora_scale=0.8)
    pipe.unload_lora_weights()

    adapter = read_adapter_file(lora)
    assert adapter.family == "sdxl"
    (report,) = AdapterMerger({"unet": unet, "te1": te1, "te2": te2}).apply([(adapter, 0.8, 0.8)])
    assert report.message() is None and report.merged == len(shapes)

    merged = dict(checkpoint) | {UNET_PREFIX + k: v.detach() for k, v in unet.state_dict().items()}
    ours = diffusers_sdxl._unet(merged, "sdxl").state_dict()
    changed = 0
    for key, reference in pipe.unet.state_dict().items():
        assert (ours[key] - reference).abs().max().item() <= 1e-6, key
        changed += int((reference - before[key]).abs().max().item() > 1e-4)
    assert changed == len(UNET_MODULES)
    for ours_text, theirs in ((te1, pipe.text_encoder), (te2, pipe.text_encoder_2)):
        for m in TEXT_MODULES:
            mine = ours_text.get_parameter(f"transformer.{m}.weight")
            reference = getattr(theirs, "text_model", theirs).get_submodule(m).weight  # WithProjection nests
            assert (mine - reference).abs().max().item() <= 1e-6, m
