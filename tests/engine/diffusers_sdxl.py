"""diffusers' SDXL pipelines built from one of our tiny SDXL checkpoint FILES (test-only reference).

The original-layout tensors go through diffusers' own single-file converters (convert_ldm_unet_checkpoint,
convert_ldm_vae_checkpoint, convert_ldm_clip_checkpoint, convert_open_clip_checkpoint) into
UNet2DConditionModel, AutoencoderKL, CLIPTextModel and CLIPTextModelWithProjection; nothing here reads
our networks. The tokenizers are transformers' CLIPTokenizer over resources/tokenizer: CLIP-L pads with
EOS, bigG with "!" (id 0), as the released SDXL tokenizers do.
"""

from __future__ import annotations

from pathlib import Path

from diffusers import (
    AutoencoderKL,
    StableDiffusionXLImg2ImgPipeline,
    StableDiffusionXLInpaintPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from diffusers.loaders import single_file_utils as convert
from safetensors.torch import load_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from ldm_studio.bench.reference import diffusers_tokenizer
from tests.engine.reference_convert import original_config
from tests.sdxl_checkpoints import CLIP_L_PREFIX, UNET_PREFIX, VAE_PREFIX, tiny_sdxl_parts

_NO_EXTRAS = {"image_encoder": None, "feature_extractor": None}


def _unet(checkpoint: dict, kind: str) -> UNet2DConditionModel:
    parts = tiny_sdxl_parts(kind)
    unet_sd = {k: v for k, v in checkpoint.items() if k.startswith(UNET_PREFIX)}
    config = convert.create_unet_diffusers_config_from_ldm(original_config(parts.unet, parts.vae), unet_sd)
    # The real widths pick SDXL's "text_time" add-embedding; ask for it on the tiny one (as test_sdxl_nets).
    config.update(class_embed_type=None, addition_embed_type="text_time", addition_time_embed_dim=256)
    config["attention_head_dim"] = [max(1, ch // 64) for ch in config["block_out_channels"]]
    converted = convert.convert_ldm_unet_checkpoint(unet_sd, config)
    assert len(converted) == len(unet_sd)
    model = UNet2DConditionModel(**config)
    model.load_state_dict(converted, strict=True)
    return model.eval()


def _vae(checkpoint: dict, kind: str) -> AutoencoderKL:
    parts = tiny_sdxl_parts(kind)
    vae_sd = {k: v for k, v in checkpoint.items() if k.startswith(VAE_PREFIX)}
    config = convert.create_vae_diffusers_config_from_ldm(original_config(parts.unet, parts.vae), vae_sd)
    assert config["scaling_factor"] == 0.13025
    converted = convert.convert_ldm_vae_checkpoint(vae_sd, config)
    model = AutoencoderKL(**config)
    model.load_state_dict(converted, strict=True)
    return model.eval()


def _hf_config(config) -> CLIPTextConfig:
    return CLIPTextConfig(
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        intermediate_size=config.intermediate_size,
        hidden_act=config.hidden_act,
        projection_dim=config.hidden_size,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=config.pad_token_id,
    )


def components(path: str | Path, kind: str) -> dict:
    """The pipeline components of the tiny SDXL file `path` of `kind` (one of SDXL_KINDS)."""
    checkpoint = load_file(str(path))
    parts = tiny_sdxl_parts(kind)
    bigg = CLIPTextModelWithProjection(_hf_config(parts.bigg))
    bigg.load_state_dict(
        convert.convert_open_clip_checkpoint(bigg, checkpoint, prefix=parts.bigg_prefix + "model."),
        strict=True,
    )
    out = {
        "unet": _unet(checkpoint, kind),
        "vae": _vae(checkpoint, kind),
        "text_encoder_2": bigg.eval(),
        "tokenizer_2": diffusers_tokenizer(parts.bigg),
        "text_encoder": None,
        "tokenizer": None,
    }
    if parts.clip_l is not None:
        clip = CLIPTextModel(_hf_config(parts.clip_l))
        clip_sd = {k: v for k, v in checkpoint.items() if k.startswith(CLIP_L_PREFIX)}
        converted = convert.convert_ldm_clip_checkpoint(clip_sd)
        sd = {
            k.removeprefix("text_model."): v for k, v in converted.items() if not k.endswith("position_ids")
        }
        clip.load_state_dict(sd, strict=True)
        out |= {"text_encoder": clip.eval(), "tokenizer": diffusers_tokenizer(parts.clip_l)}
    return out


def txt2img(parts: dict, scheduler, **options) -> StableDiffusionXLPipeline:
    return StableDiffusionXLPipeline(
        **parts, scheduler=scheduler, add_watermarker=False, **_NO_EXTRAS, **options
    )


def img2img(parts: dict, scheduler, **options) -> StableDiffusionXLImg2ImgPipeline:
    return StableDiffusionXLImg2ImgPipeline(
        **parts, scheduler=scheduler, add_watermarker=False, **_NO_EXTRAS, **options
    )


def inpaint(parts: dict, scheduler, **options) -> StableDiffusionXLInpaintPipeline:
    return StableDiffusionXLInpaintPipeline(
        **parts, scheduler=scheduler, add_watermarker=False, **_NO_EXTRAS, **options
    )
