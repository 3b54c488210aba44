"""diffusers' side of the SDXL rows: StableDiffusionXLPipeline.from_single_file on the same file, offline.

`write_sdxl_config_folder` writes the pipeline folder from_single_file reads its configs from (and
nothing else: no weights): model_index.json, unet/ and vae/ configs made by diffusers' own
`create_*_diffusers_config_from_ldm` from the file's header, transformers' CLIPTextConfig for both
towers, the Euler scheduler with SD's schedule (the sampler ours runs), and both tokenizers over
resources/tokenizer (tokenizer_2 pads with "!", id 0, as the released SDXL's). diffusers is a
benchmark-only dependency: imported inside functions.
"""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import torch

from ldm_studio.bench import reference
from ldm_studio.bench.ours import touch_weights
from ldm_studio.bench.spec import CFG_SCALE, NEGATIVE, PROMPT, SEED, BenchSpec
from ldm_studio.bench.theirs import quiet_diffusers

SUBFOLDERS = ("unet", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "scheduler")


def _meta_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The file's tensors as meta tensors of the right shapes (diffusers' config creators read shapes)."""
    from ldm_studio.engine.checkpoints.files import read_safetensors_header

    tensors, _ = read_safetensors_header(Path(path))
    return {k: torch.empty(i.shape, dtype=i.dtype, device="meta") for k, i in tensors.items()}


def _text_config(config, projection_dim: int):
    transformers = __import__("transformers")
    return transformers.CLIPTextConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_layers,  # every layer: diffusers reads hidden_states[-2]
        num_attention_heads=config.num_heads,
        intermediate_size=config.intermediate_size,
        max_position_embeddings=config.max_positions,
        hidden_act=config.hidden_act,
        projection_dim=projection_dim,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=config.pad_token_id,
    )


def write_sdxl_config_folder(path: str | Path, folder: str | Path) -> Path:
    """diffusers' SDXL pipeline folder (configs and tokenizers only) for the SDXL base file `path`."""
    from ldm_studio.engine.checkpoints.inspection import inspect_checkpoint

    quiet_diffusers()
    diffusers = reference.import_diffusers()
    convert = importlib.import_module("diffusers.loaders.single_file_utils")
    folder = Path(folder)
    family = inspect_checkpoint(path).config
    if family.name != "sdxl":
        raise ValueError(f"{Path(path).name} is {family.label}, not an SDXL base file")
    checkpoint = _meta_checkpoint(path)
    original = reference.original_config(family.unet, family.vae)
    unet = convert.create_unet_diffusers_config_from_ldm(original, checkpoint)
    # SDXL's add-embedding and 64-wide heads: what diffusers infers for the real widths, stated so that
    # a narrow test file (whose widths it does not recognise) gets the same architecture.
    unet.update(class_embed_type=None, addition_embed_type="text_time", addition_time_embed_dim=256)
    unet["attention_head_dim"] = [max(1, ch // 64) for ch in unet["block_out_channels"]]
    vae = convert.create_vae_diffusers_config_from_ldm(original, checkpoint)
    vae["force_upcast"] = True  # SDXL's released VAE config; a no-op in fp32
    version = diffusers.__version__
    for name, cls, config in (
        ("unet", "UNet2DConditionModel", unet),
        ("vae", "AutoencoderKL", vae),
        ("scheduler", "EulerDiscreteScheduler", reference.SD_SCHEDULER),
    ):
        (folder / name).mkdir(parents=True, exist_ok=True)
        file = "scheduler_config.json" if name == "scheduler" else "config.json"
        payload = {"_class_name": cls, "_diffusers_version": version, **config}
        (folder / name / file).write_text(json.dumps(payload, indent=1))
    bigg_projection = family.text2.projection_dim or family.text2.hidden_size
    _text_config(family.text, family.text.hidden_size).save_pretrained(folder / "text_encoder")
    _text_config(family.text2, bigg_projection).save_pretrained(folder / "text_encoder_2")
    reference.diffusers_tokenizer(family.text).save_pretrained(folder / "tokenizer")
    reference.diffusers_tokenizer(family.text2).save_pretrained(folder / "tokenizer_2")
    index = {
        "_class_name": "StableDiffusionXLPipeline",
        "_diffusers_version": version,
        "force_zeros_for_empty_prompt": True,
        "feature_extractor": [None, None],
        "image_encoder": [None, None],
        "scheduler": ["diffusers", "EulerDiscreteScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "tokenizer_2": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    (folder / "model_index.json").write_text(json.dumps(index, indent=1))
    return folder


class SdxlTheirs:
    """The same rows as `SdxlOurs`, through StableDiffusionXLPipeline, fp32 on the CPU."""

    label = "diffusers"

    def __init__(self, spec: BenchSpec):
        quiet_diffusers()
        self.spec = spec
        self.pipe = None

    def load(self) -> None:
        diffusers = reference.import_diffusers()
        pipe = diffusers.StableDiffusionXLPipeline.from_single_file(
            str(self.spec.path),
            config=str(self.spec.diffusers_folder),
            torch_dtype=torch.float32,
            local_files_only=True,
            add_watermarker=False,
        )
        pipe.set_progress_bar_config(disable=True)
        touch_weights([pipe.unet, pipe.vae, pipe.text_encoder, pipe.text_encoder_2])
        self.pipe = pipe

    def prepare(self) -> None:
        """Inputs of the UNet-step and VAE rows: latents, the first σ, both prompts' context and `y`."""
        pipe, size = self.pipe, self.spec.size
        side = size // pipe.vae_scale_factor
        generator = torch.Generator().manual_seed(SEED)
        self.latents = torch.randn(1, 4, side, side, generator=generator)
        pipe.scheduler.set_timesteps(self.spec.steps)
        self.t = pipe.scheduler.timesteps[0]
        self.c_in = 1 / math.sqrt(float(pipe.scheduler.sigmas[0]) ** 2 + 1)
        with torch.inference_mode():
            context, negative, pooled, negative_pooled = pipe.encode_prompt(
                PROMPT, device=torch.device("cpu"), do_classifier_free_guidance=True, negative_prompt=NEGATIVE
            )
        projection = pipe.text_encoder_2.config.projection_dim
        time_ids = pipe._get_add_time_ids(
            (size, size), (0, 0), (size, size), torch.float32, text_encoder_projection_dim=projection
        )
        self.context = torch.cat([negative, context])
        self.added = {"text_embeds": torch.cat([negative_pooled, pooled]), "time_ids": time_ids.repeat(2, 1)}

    def unet_step(self) -> None:
        """The body of diffusers' denoising loop: batched CFG through the UNet (no scheduler step, as
        ours' row has no sampler update)."""
        with torch.inference_mode():
            model_in = torch.cat([self.latents] * 2) * self.c_in
            eps = self.pipe.unet(
                model_in, self.t, encoder_hidden_states=self.context, added_cond_kwargs=self.added
            ).sample
            uncond, positive = eps.chunk(2)
            self.out = uncond + CFG_SCALE * (positive - uncond)

    def vae_decode(self) -> None:
        with torch.inference_mode():
            self.out = self.pipe.vae.decode(self.latents / self.pipe.vae.config.scaling_factor).sample

    def txt2img(self, size: int | None = None) -> None:
        size = size or self.spec.size
        images = self.pipe(
            PROMPT,
            negative_prompt=NEGATIVE,
            num_inference_steps=self.spec.steps,
            guidance_scale=CFG_SCALE,
            width=size,
            height=size,
            generator=torch.Generator().manual_seed(SEED),
            output_type="pil",
        ).images
        assert len(images) == 1
