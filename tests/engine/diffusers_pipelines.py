"""diffusers' Stable Diffusion pipelines built from one of our tiny checkpoint FILES (test-only reference).

The weights are read back from the file in the original key layout and go through diffusers' own
single-file converters (see reference_convert.py); the text encoder is transformers' CLIPTextModel and
the tokenizer transformers' CLIPTokenizer over resources/tokenizer, padded as the released models pad
(SD1 with EOS, SD2 with "!" = id 0). Schedulers are configured as SD ships them. Nothing here reads
our networks, so the pipelines are an independent reference for ldm_studio.engine.pipelines.run. The text
encoder, tokenizer and SD scheduler config are shared with the benchmark (ldm_studio/bench/reference.py).
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
from safetensors.torch import load_file

from ldm_studio.bench.reference import (
    NO_SAFETY_CHECKER,
    SD_SCHEDULER,
    diffusers_text_encoder,
    diffusers_tokenizer,
)
from ldm_studio.engine.checkpoints.shapes import TEXT_PREFIX
from tests.checkpoints import tiny_family
from tests.engine.reference_convert import UNET_PREFIX, VAE_PREFIX, diffusers_kl, diffusers_unet

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


def txt2img_pipeline(components: dict, scheduler) -> StableDiffusionPipeline:
    return StableDiffusionPipeline(**components, scheduler=scheduler, **NO_SAFETY_CHECKER)


def inpaint_pipeline(components: dict, scheduler) -> StableDiffusionInpaintPipeline:
    return StableDiffusionInpaintPipeline(**components, scheduler=scheduler, **NO_SAFETY_CHECKER)


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
