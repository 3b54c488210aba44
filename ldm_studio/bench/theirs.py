"""diffusers' side of each benchmark row: StableDiffusionPipeline on the same checkpoint file.

Loaded with `StableDiffusionPipeline.from_single_file(file, config=folder)`, where the folder holds only
the configs (written once by `write_config_folder`), so both sides read the very same bytes. The
scheduler is EulerDiscreteScheduler with SD's schedule, the sampler ours runs; attention is SDPA
(diffusers' default AttnProcessor2_0), as ours. diffusers has no live previews: its first-preview row
computes the same latent→RGB map in `callback_on_step_end`, which is what an app built on it would do.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import math
import os
import time
import warnings
from pathlib import Path

import torch

from ldm_studio.bench import reference
from ldm_studio.bench.ours import touch_weights
from ldm_studio.bench.spec import CFG_SCALE, NEGATIVE, PROMPT, SEED, BenchSpec
from ldm_studio.engine.pipelines.previews import LATENT_RGB_KL_F8, latent_to_rgb
from ldm_studio.engine.runtime.devices import choose_dtype

SKIPPED = "comparison skipped: diffusers is not installed"


def quiet_diffusers() -> None:
    """No progress bars, deprecation notes or advice to install accelerate in the benchmark's output."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    warnings.filterwarnings("ignore", category=FutureWarning)
    for name in ("diffusers", "transformers"):
        logging.getLogger(name).setLevel(logging.ERROR)
    reference.import_diffusers().utils.logging.disable_progress_bar()
    importlib.import_module("transformers").utils.logging.disable_progress_bar()


def write_config_folder(spec: BenchSpec, family, folder: Path) -> None:
    """A diffusers pipeline folder for `spec.path`: configs, tokenizer and the weights in the file's dtype.

    from_single_file reads only the configs from it; from_pretrained (diffusers' native format) reads
    the weights too, for the second load row.
    """
    components = reference.diffusers_components(spec.path, family, dtype=torch.float16)
    pipe = reference.txt2img_pipeline(components)
    with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):  # its shard-writing progress bar
        pipe.save_pretrained(folder, safe_serialization=True)


class _FirstPreview(Exception):
    pass


class Theirs:
    label = "diffusers"

    def __init__(self, spec: BenchSpec):
        quiet_diffusers()
        self.spec = spec
        self.dtype = choose_dtype(torch.device(spec.device), spec.precision)
        self.pipe = None

    def _loaded(self, pipe) -> None:
        pipe = pipe.to(self.spec.device)
        pipe.set_progress_bar_config(disable=True)
        touch_weights([pipe.unet, pipe.vae, pipe.text_encoder])
        if self.spec.channels_last:
            pipe.unet.to(memory_format=torch.channels_last)
            pipe.vae.to(memory_format=torch.channels_last)
        if self.spec.compile:
            pipe.unet.compile(dynamic=False)
        self.pipe = pipe

    def load(self) -> None:
        diffusers = reference.import_diffusers()
        pipe = diffusers.StableDiffusionPipeline.from_single_file(
            str(self.spec.path),
            config=str(self.spec.diffusers_folder),
            torch_dtype=self.dtype,
            local_files_only=True,
            **reference.NO_SAFETY_CHECKER,
        )
        self._loaded(pipe)

    def load_pretrained(self) -> None:
        diffusers = reference.import_diffusers()
        pipe = diffusers.StableDiffusionPipeline.from_pretrained(
            str(self.spec.diffusers_folder),
            torch_dtype=self.dtype,
            local_files_only=True,
            **reference.NO_SAFETY_CHECKER,
        )
        self._loaded(pipe)

    def unload(self) -> None:
        self.pipe = None

    def prepare(self) -> None:
        if self.pipe is None:
            self.load()
        pipe, side = self.pipe, self.spec.size // self.pipe.vae_scale_factor
        generator = torch.Generator().manual_seed(SEED)
        self.latents = torch.randn(1, 4, side, side, generator=generator).to(self.spec.device, self.dtype)
        pipe.scheduler.set_timesteps(self.spec.steps)
        self.t = pipe.scheduler.timesteps[0]
        self.c_in = 1 / math.sqrt(float(pipe.scheduler.sigmas[0]) ** 2 + 1)
        with torch.inference_mode():
            positive, negative = pipe.encode_prompt(PROMPT, self.spec.device, 1, True, NEGATIVE)
        self.context = torch.cat([negative, positive])

    def unet_step(self) -> None:
        """The body of diffusers' denoising loop: batched CFG through the UNet (scheduler step left out,
        as ours' row leaves out the sampler update)."""
        with torch.inference_mode():
            model_in = torch.cat([self.latents] * 2) * self.c_in
            eps = self.pipe.unet(model_in, self.t, encoder_hidden_states=self.context).sample
            uncond, positive = eps.chunk(2)
            self.out = uncond + CFG_SCALE * (positive - uncond)

    def vae_decode(self) -> None:
        with torch.inference_mode():
            self.out = self.pipe.vae.decode(self.latents / self.pipe.vae.config.scaling_factor).sample

    def _call(self, size: int, **kwargs):
        return self.pipe(
            PROMPT,
            negative_prompt=NEGATIVE,
            num_inference_steps=self.spec.steps,
            guidance_scale=CFG_SCALE,
            width=size,
            height=size,
            generator=torch.Generator().manual_seed(SEED),
            output_type="pil",
            **kwargs,
        )

    def txt2img(self, size: int) -> None:
        assert len(self._call(size).images) == 1

    def first_preview(self) -> float:
        start = time.perf_counter()
        seen: dict[str, float] = {}

        def on_step(pipe, step, timestep, tensors):
            latent_to_rgb(tensors["latents"], LATENT_RGB_KL_F8)
            seen["seconds"] = time.perf_counter() - start
            raise _FirstPreview

        with contextlib.suppress(_FirstPreview):
            self._call(self.spec.size, callback_on_step_end=on_step)
        return seen["seconds"]
