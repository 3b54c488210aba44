"""diffusers' Stable Diffusion built from one of OUR checkpoint files: the reference we are measured against.

Optional: diffusers is a test / benchmark dependency only, so it is imported inside functions (never at
module level, see tests/test_layering.py). `import_diffusers()` returns None when it is missing.

The weights are read back from the file in the original key layout and go through diffusers' own
single-file converters; the text encoder is transformers' CLIPTextModel and the tokenizer transformers'
CLIPTokenizer over resources/tokenizer, padded as the released models pad (SD1 with EOS, SD2 with "!").
Nothing here reads our networks, so the result is an independent reference.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from ldm_studio.engine.checkpoints.shapes import TEXT_PREFIX, UNET_PREFIX, VAE_PREFIX
from ldm_studio.engine.nets.configs import AutoencoderConfig, TextEncoderConfig, UNetConfig

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
NO_SAFETY_CHECKER = {"safety_checker": None, "feature_extractor": None, "requires_safety_checker": False}


def import_diffusers() -> ModuleType | None:
    """The diffusers package, or None when it is not installed (the benchmark then times ours alone)."""
    try:
        return importlib.import_module("diffusers")
    except ImportError:
        return None


def diffusers_installed() -> bool:
    """Whether diffusers can be found, without the seconds it takes to import it."""
    return importlib.util.find_spec("diffusers") is not None


def _converters() -> ModuleType:
    return importlib.import_module("diffusers.loaders.single_file_utils")


def _yaml_params(config: Any) -> dict:
    """Config dataclass -> YAML-style params; unset options (None, -1) left out, as in the original files."""
    values = dataclasses.asdict(config)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items() if v is not None and v != -1}


def original_config(unet: UNetConfig, vae: AutoencoderConfig) -> dict:
    """The `model.params` tree of an original LDM YAML, as diffusers' config creators read it."""
    return {
        "model": {
            "params": {
                "scale_factor": vae.scale_factor,
                "unet_config": {"params": {"context_dim": None, **_yaml_params(unet)}},
                "first_stage_config": {"params": {"embed_dim": vae.embed_dim, "ddconfig": _yaml_params(vae)}},
            }
        }
    }


def _prefixed(checkpoint: dict, prefix: str) -> dict:
    return {k: v for k, v in checkpoint.items() if k.startswith(prefix)}


def _converted(model_class, part: dict, config: dict, converted: dict, what: str):
    # Every original tensor must be consumed: a key the converter skipped would be a silent difference.
    assert len(converted) == len(part), f"diffusers' {what} converter left tensors out"
    with torch.device("meta"):  # no random init of a billion weights we replace at once
        model = model_class(**config)
    model.load_state_dict(converted, strict=True, assign=True)
    return model.eval()


def diffusers_unet(checkpoint: dict, unet: UNetConfig, vae: AutoencoderConfig):
    """UNet2DConditionModel from the `model.diffusion_model.*` tensors of an original checkpoint."""
    diffusers, convert = import_diffusers(), _converters()
    part = _prefixed(checkpoint, UNET_PREFIX)
    config = convert.create_unet_diffusers_config_from_ldm(original_config(unet, vae), part)
    converted = convert.convert_ldm_unet_checkpoint(part, config)
    return _converted(diffusers.UNet2DConditionModel, part, config, converted, "UNet")


def diffusers_vae(checkpoint: dict, unet: UNetConfig, vae: AutoencoderConfig):
    """AutoencoderKL from the `first_stage_model.*` tensors of an original checkpoint."""
    diffusers, convert = import_diffusers(), _converters()
    part = _prefixed(checkpoint, VAE_PREFIX)
    config = convert.create_vae_diffusers_config_from_ldm(original_config(unet, vae), part)
    converted = convert.convert_ldm_vae_checkpoint(part, config)
    return _converted(diffusers.AutoencoderKL, part, config, converted, "VAE")


def hf_text_config(config: TextEncoderConfig):
    """transformers' CLIPTextConfig for our text config (diffusers' SD2 encoder has N−1 layers: the
    penultimate layer + final LayerNorm of the full OpenCLIP tower)."""
    transformers = importlib.import_module("transformers")
    layers = config.num_layers - (config.layer == "penultimate")
    return transformers.CLIPTextConfig(
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


def diffusers_text_encoder(checkpoint: dict, config: TextEncoderConfig):
    """CLIPTextModel from the `cond_stage_model.*` tensors, through diffusers' CLIP / OpenCLIP converters."""
    transformers, convert = importlib.import_module("transformers"), _converters()
    model = transformers.CLIPTextModel(hf_text_config(config))
    if config.kind == "open_clip":
        converted = convert.convert_open_clip_checkpoint(model, checkpoint, prefix=TEXT_PREFIX + "model.")
    else:
        converted = convert.convert_ldm_clip_checkpoint(checkpoint)
    # The converters emit transformers < 5.6 keys (`text_model.`); what the model has no slot for
    # (the projection, the unused last OpenCLIP layer, position ids) is left out; strict=True below
    # proves every weight the model has was given.
    wanted = model.state_dict().keys()
    keep = {k.removeprefix("text_model."): v for k, v in converted.items()}
    model.load_state_dict({k: v for k, v in keep.items() if k in wanted}, strict=True)
    return model.eval()


def diffusers_tokenizer(config: TextEncoderConfig):
    """transformers' CLIP tokenizer over our vocabulary; SD2's pads with "!" (id 0), as released."""
    from ldm_studio.resources import resource_path

    transformers = importlib.import_module("transformers")
    folder = str(resource_path("tokenizer"))
    pad = "!" if config.pad_token_id == 0 else "<|endoftext|>"
    return transformers.CLIPTokenizer.from_pretrained(
        folder, local_files_only=True, pad_token=pad, model_max_length=77
    )


def diffusers_components(
    path: str | Path, family, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> dict:
    """unet, vae, text_encoder, tokenizer of a text-to-image checkpoint file, for `family` (our Family)."""
    from safetensors.torch import load_file

    checkpoint = load_file(str(path))
    unet = diffusers_unet(checkpoint, family.unet, family.vae)
    vae = diffusers_vae(checkpoint, family.unet, family.vae)
    text = diffusers_text_encoder(_prefixed(checkpoint, TEXT_PREFIX), family.text)
    nets = {"unet": unet, "vae": vae, "text_encoder": text}
    return {
        **{name: net.to(device=device, dtype=dtype) for name, net in nets.items()},
        "tokenizer": diffusers_tokenizer(family.text),
    }


def euler_scheduler():
    """diffusers' Euler with SD's schedule: the same sampler as ours `euler` / `normal`."""
    return import_diffusers().EulerDiscreteScheduler.from_config(SD_SCHEDULER)


def txt2img_pipeline(components: dict, scheduler=None):
    """StableDiffusionPipeline over `components`, no safety checker, no progress bar."""
    pipe = import_diffusers().StableDiffusionPipeline(
        **components, scheduler=scheduler or euler_scheduler(), **NO_SAFETY_CHECKER
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe
