"""diffusers' Stable Diffusion pipelines built from one of our tiny checkpoint FILES (test-only reference).

The weights are read back from the file in the original key layout and go through diffusers' own
single-file converters (see reference_convert.py); the text encoder is transformers' CLIPTextModel and
the tokenizer transformers' CLIPTokenizer over resources/tokenizer, padded as the released models pad
(SD1 with EOS, SD2 with "!" = id 0). Schedulers are configured as SD ships them. Nothing here reads
our networks, so the pipelines are an independent reference for ldm_studio.engine.pipeline.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    EulerDiscreteScheduler,
    StableDiffusionInpaintPipeline,
    StableDiffusionPipeline,
    StableDiffusionUpscalePipeline,
)
from diffusers.loaders.single_file_utils import convert_ldm_clip_checkpoint, convert_open_clip_checkpoint
from safetensors.torch import load_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from ldm_studio.engine.nets.configs import TextEncoderConfig
from ldm_studio.resources import resource_path
from tests.checkpoints import tiny_family
from tests.engine.reference_convert import UNET_PREFIX, VAE_PREFIX, diffusers_kl, diffusers_unet

TEXT_PREFIX = "cond_stage_model."

# Stable Diffusion's scheduler_config.json (v1-5 / 2-1), spacing made explicit.
SD_SCHEDULER = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "set_alpha_to_one": False,
    "clip_sample": False,
    "skip_prk_steps": True,
}
# stable-diffusion-x4-upscaler: v-prediction on betas 1e-4 → 0.02; its low-res augmentation on the same.
X4_SCHEDULER = {**SD_SCHEDULER, "beta_start": 0.0001, "beta_end": 0.02, "prediction_type": "v_prediction"}
X4_LOW_RES_SCHEDULER = {
    "num_train_timesteps": 1000,
    "beta_start": 0.0001,
    "beta_end": 0.02,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
}

# Our sampler names → diffusers' scheduler class (and the options that make it that sampler).
_SCHEDULERS = {
    "euler": (EulerDiscreteScheduler, {}),
    "ddim": (DDIMScheduler, {}),
    "dpmpp_2m": (DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++", "solver_order": 2}),
}


def sd_scheduler(
    sampler: str, schedule: str = "normal", *, base: dict | None = None, prediction: str = "eps"
):
    """The diffusers scheduler that `sampler` with `schedule` ("normal" / "karras") reproduces."""
    cls, options = _SCHEDULERS[sampler]
    config = {**(base or SD_SCHEDULER), **options}
    if prediction == "v":
        config["prediction_type"] = "v_prediction"
    if schedule == "karras":
        config["use_karras_sigmas"] = True
    # from_config keeps only the keys this scheduler knows (PNDM's skip_prk_steps, DDIM's set_alpha_to_one…).
    return cls.from_config(config)


def _hf_text_config(config: TextEncoderConfig) -> CLIPTextConfig:
    # diffusers' SD2 encoder has N−1 layers: the penultimate layer + final LayerNorm of the full tower.
    layers = config.num_layers - (config.layer == "penultimate")
    return CLIPTextConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=config.num_heads,
        intermediate_size=config.intermediate_size,
        max_position_embeddings=config.max_positions,
        hidden_act=config.hidden_act,
        bos_token_id=49406,
        eos_token_id=49407,
    )


def diffusers_text_encoder(checkpoint: dict, config: TextEncoderConfig) -> CLIPTextModel:
    model = CLIPTextModel(_hf_text_config(config))
    if config.kind == "open_clip":
        converted = convert_open_clip_checkpoint(model, checkpoint, prefix=TEXT_PREFIX + "model.")
    else:
        converted = convert_ldm_clip_checkpoint(checkpoint)
    # The converters emit transformers < 5.6 keys (`text_model.`); what the model has no slot for
    # (the projection, the unused last OpenCLIP layer, position ids) is left out; strict=True below
    # proves every weight the model has was given.
    wanted = model.state_dict().keys()
    keep = {k.removeprefix("text_model."): v for k, v in converted.items()}
    model.load_state_dict({k: v for k, v in keep.items() if k in wanted}, strict=True)
    return model.eval()


def diffusers_tokenizer(config: TextEncoderConfig) -> CLIPTokenizer:
    """transformers' CLIP tokenizer over our vocabulary; SD2's pads with "!" (id 0), as released."""
    folder = str(resource_path("tokenizer"))
    pad = "!" if config.pad_token_id == 0 else "<|endoftext|>"
    return CLIPTokenizer.from_pretrained(folder, local_files_only=True, pad_token=pad, model_max_length=77)


def diffusers_components(path: str | Path, family: str) -> dict:
    """unet, vae, text_encoder, tokenizer for the tiny checkpoint file `path` of `family`."""
    checkpoint = load_file(str(path))
    tiny = tiny_family(family)
    unet_sd = {k[len(UNET_PREFIX) :]: v for k, v in checkpoint.items() if k.startswith(UNET_PREFIX)}
    vae_sd = {k[len(VAE_PREFIX) :]: v for k, v in checkpoint.items() if k.startswith(VAE_PREFIX)}
    text_sd = {k: v for k, v in checkpoint.items() if k.startswith(TEXT_PREFIX)}
    return {
        "unet": diffusers_unet(unet_sd, tiny.unet),
        "vae": diffusers_kl(vae_sd, tiny.vae),
        "text_encoder": diffusers_text_encoder(text_sd, tiny.text),
        "tokenizer": diffusers_tokenizer(tiny.text),
    }


_NO_SAFETY = {"safety_checker": None, "feature_extractor": None, "requires_safety_checker": False}


def txt2img_pipeline(components: dict, scheduler) -> StableDiffusionPipeline:
    return StableDiffusionPipeline(**components, scheduler=scheduler, **_NO_SAFETY)


def inpaint_pipeline(components: dict, scheduler) -> StableDiffusionInpaintPipeline:
    return StableDiffusionInpaintPipeline(**components, scheduler=scheduler, **_NO_SAFETY)


def upscale_pipeline(components: dict, scheduler) -> StableDiffusionUpscalePipeline:
    return StableDiffusionUpscalePipeline(
        **components,
        scheduler=scheduler,
        low_res_scheduler=DDPMScheduler.from_config(X4_LOW_RES_SCHEDULER),
        safety_checker=None,
        watermarker=None,
        feature_extractor=None,
        max_noise_level=350,
    )


def run_reference(pipeline, seed: int, **kwargs) -> torch.Tensor:
    """The pipeline's images as float [B, H, W, 3] in [0, 1], noise from a CPU generator seeded `seed`."""
    pipeline.set_progress_bar_config(disable=True)
    generator = torch.Generator("cpu").manual_seed(seed)
    with torch.no_grad():
        images = pipeline(generator=generator, output_type="np", **kwargs).images
    return torch.from_numpy(images)
