"""SDXL files told from their shapes alone: base, 9-channel inpaint, refiner, the v_pred / ztsnr markers,
safetensors and weights-only .ckpt, fp32 / fp16 / bf16; truncated or inconsistent files fail in one line."""

from __future__ import annotations

import pytest
import torch

from ldm_studio.engine.checkpoints.inspection import inspect_checkpoint
from ldm_studio.engine.checkpoints.loading import load_model
from ldm_studio.engine.errors import CheckpointError
from ldm_studio.info import describe_checkpoint
from tests.sdxl_checkpoints import tiny_sdxl_parts, tiny_sdxl_state_dict, write_tiny_sdxl_checkpoint

LABELS = {"sdxl": "SDXL base", "sdxl-inpaint": "SDXL inpainting", "sdxl-refiner": "SDXL refiner"}


@pytest.mark.parametrize("kind", ["sdxl", "sdxl-inpaint", "sdxl-refiner"])
def test_each_kind_is_detected_with_its_configs(tmp_path, kind):
    # A neutral file name: nothing but the shapes can tell the kind.
    path = write_tiny_sdxl_checkpoint(tmp_path / "model.safetensors", kind)
    info = inspect_checkpoint(path)
    parts = tiny_sdxl_parts(kind)
    family = info.config
    assert (info.family, family.label, info.prediction) == (kind, LABELS[kind], "eps")
    assert family.unet.in_channels == parts.unet.in_channels
    assert family.unet.adm_in_channels == parts.unet.adm_in_channels
    assert family.unet.context_dim == parts.unet.context_dim
    attended = [i for i in range(len(parts.unet.channel_mult)) if 2**i in parts.unet.attention_resolutions]
    assert sorted(family.unet.attention_resolutions) == sorted(parts.unet.attention_resolutions)
    assert [family.unet.depth_at(i) for i in attended] == [parts.unet.depth_at(i) for i in attended]
    assert family.unet.depth_at(None) == parts.unet.depth_at(None)
    assert family.vae.scale_factor == 0.13025 and family.default_size == (1024, 1024)
    assert family.preview == "sdxl" and not family.zero_terminal_snr
    bigg = family.text2 if parts.clip_l is not None else family.text
    assert bigg.pooled and not bigg.final_norm and bigg.pad_token_id == 0 and bigg.layer == "penultimate"
    assert bigg.hidden_size == parts.bigg.hidden_size and bigg.projection_dim == parts.bigg.hidden_size
    if parts.clip_l is not None:
        clip = family.text
        assert (clip.kind, clip.final_norm, clip.pooled, clip.pad_token_id) == ("clip", False, False, 49407)
        assert set(info.parameters) == {"unet", "vae", "text", "text2"}
    else:
        assert family.text2 is None and set(info.parameters) == {"unet", "vae", "text"}
    assert f"family:       {kind} ({LABELS[kind]})" in describe_checkpoint(path)


@pytest.mark.parametrize(("fmt", "dtype"), [("safetensors", torch.float16), ("ckpt", torch.bfloat16)])
def test_v_pred_and_ztsnr_keys_and_formats(tmp_path, fmt, dtype):
    path = write_tiny_sdxl_checkpoint(
        tmp_path / f"m.{fmt}", "sdxl", dtype=dtype, fmt=fmt, v_pred=True, ztsnr=True
    )
    info = inspect_checkpoint(path)
    assert (info.family, info.prediction, info.prediction_source) == ("sdxl", "v", "key")
    assert info.config.zero_terminal_snr and "v-prediction" in info.config.label
    assert info.dtypes["unet"] == {torch.float16: "fp16", torch.bfloat16: "bf16"}[dtype]
    text = describe_checkpoint(path)
    assert "v (the file's v_pred key)" in text and "zero terminal SNR" in text
    only_v = write_tiny_sdxl_checkpoint(tmp_path / "v.safetensors", "sdxl", v_pred=True)
    assert not inspect_checkpoint(only_v).config.zero_terminal_snr
    # The caller's prediction still wins.
    assert inspect_checkpoint(path, prediction="eps").prediction == "eps"


def test_loaded_model_has_both_encoders_and_tokenizers(tmp_path):
    base = load_model(write_tiny_sdxl_checkpoint(tmp_path / "b.safetensors"), device="cpu", precision="fp32")
    assert base.text_encoder.config.kind == "clip" and base.text_encoder_2.config.pooled
    assert (base.tokenizer.pad_token_id, base.tokenizer_2.pad_token_id) == (49407, 0)
    refiner_path = write_tiny_sdxl_checkpoint(tmp_path / "r.safetensors", "sdxl-refiner")
    refiner = load_model(refiner_path, device="cpu", precision="fp32")
    assert (
        refiner.text_encoder.config.pooled and refiner.text_encoder_2 is None and refiner.tokenizer_2 is None
    )
    assert refiner.tokenizer.pad_token_id == 0


def test_truncated_file_is_one_line_error(tmp_path):
    path = write_tiny_sdxl_checkpoint(tmp_path / "cut.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as caught:
        load_model(path, device="cpu", precision="fp32")
    assert "\n" not in str(caught.value) and "cut.safetensors" in str(caught.value)


def test_context_width_that_does_not_match_the_towers_is_refused(tmp_path):
    from safetensors.torch import save_file

    sd = tiny_sdxl_state_dict("sdxl")
    # Drop CLIP-L: the UNet still reads CLIP-L + bigG wide contexts, and the file is no refiner either.
    sd = {k: v.contiguous() for k, v in sd.items() if not k.startswith("conditioner.embedders.0.")}
    save_file(sd, str(tmp_path / "odd.safetensors"))
    with pytest.raises(CheckpointError, match=r"odd\.safetensors: .*context"):
        inspect_checkpoint(tmp_path / "odd.safetensors")


SGM_YAML = """model:
  target: sgm.models.diffusion.DiffusionEngine
  params:
    scale_factor: 0.13025
    denoiser_config:
      target: sgm.modules.diffusionmodules.denoiser.DiscreteDenoiser
      params:
        num_idx: 1000
        scaling_config:
          target: sgm.modules.diffusionmodules.denoiser_scaling.{scaling}
    network_config:
      target: sgm.modules.diffusionmodules.openaimodel.UNetModel
      params: {{adm_in_channels: 2816, num_classes: sequential, in_channels: 4}}
    conditioner_config:
      target: sgm.modules.GeneralConditioner
    first_stage_config:
      target: sgm.models.autoencoder.AutoencoderKLInferenceWrapper
      params: {{embed_dim: 4}}
"""


@pytest.mark.parametrize(("scaling", "prediction"), [("VScaling", "v"), ("EpsScaling", "eps")])
def test_sgm_yaml_beside_the_file_gives_the_prediction_and_keeps_the_shapes(tmp_path, scaling, prediction):
    path = write_tiny_sdxl_checkpoint(tmp_path / "noob.safetensors", "sdxl")
    (tmp_path / "noob.yaml").write_text(SGM_YAML.format(scaling=scaling))
    info = inspect_checkpoint(path)
    assert (info.family, info.prediction, info.config_source) == ("sdxl", prediction, "yaml")
    assert info.config.conditioning == "crossattn" and info.config.vae.scale_factor == 0.13025
    assert info.config.text2 is not None and info.config.unet.num_classes == "sequential"
