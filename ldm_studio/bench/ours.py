"""Our side of each benchmark row, through the same entry points the GUI uses.

txt2img and the first preview go through `pipeline.run` (validation, prompt parsing, the sampler thread,
live previews every step as in the app's default); the UNet step is the pipeline's CFG denoiser.
"""

from __future__ import annotations

import threading
import time

import torch

from ldm_studio.bench.spec import CFG_SCALE, NEGATIVE, PROMPT, SEED, BenchSpec
from ldm_studio.engine.checkpoints.loading import load_model
from ldm_studio.engine.pipelines import conditioning as cond
from ldm_studio.engine.pipelines.preview_maps import preview_function
from ldm_studio.engine.pipelines.run import run
from ldm_studio.engine.pipelines.vae_codec import decode_latents
from ldm_studio.engine.requests import GenerationRequest, Preview, Result
from ldm_studio.engine.runtime.acceleration import accelerate
from ldm_studio.engine.sampling.denoisers import guided, make_denoiser
from ldm_studio.engine.sampling.schedules import linear_schedule, sampling_sigmas


def touch_weights(modules) -> float:
    """Read one value per 4 KiB page of every CPU weight, so a lazily mapped file is really read."""
    total = 0.0
    for module in modules:
        for tensor in module.parameters():
            if tensor.device.type == "cpu":
                flat = tensor.detach().reshape(-1)
                total += float(flat[:: max(1, 4096 // flat.element_size())].float().sum())
    return total


class Ours:
    label = "ours"

    def __init__(self, spec: BenchSpec):
        self.spec = spec
        self.model = None

    def load(self) -> None:
        model = load_model(self.spec.path, device=self.spec.device, precision=self.spec.precision)
        touch_weights([model.unet, model.vae, model.text_encoder])
        self.model = accelerate(model, channels_last=self.spec.channels_last, compile=self.spec.compile)

    def unload(self) -> None:
        self.model = None

    def prepare(self) -> None:
        """Inputs of the single-network rows: latents, σ_max, both prompt contexts, the denoiser."""
        if self.model is None:
            self.load()
        model, side = self.model, self.spec.size // self.model.config.vae.downscale
        generator = torch.Generator().manual_seed(SEED)
        self.latents = torch.randn(1, 4, side, side, generator=generator).to(model.device, model.dtype)
        schedule = linear_schedule(model.config.linear_start, model.config.linear_end, model.config.timesteps)
        self.sigma = float(sampling_sigmas(schedule, self.spec.steps)[0])
        with torch.inference_mode():
            positive, negative = cond.pair(cond.text_contexts(model, PROMPT, NEGATIVE, 1))
        self.denoise = guided(make_denoiser(model.unet, schedule, "eps"), positive, negative, CFG_SCALE)
        self.to_rgb = preview_function(model)

    def request(self, size: int, steps: int | None = None) -> GenerationRequest:
        return GenerationRequest(
            mode="txt2img",
            model=str(self.spec.path),
            prompt=PROMPT,
            negative_prompt=NEGATIVE,
            seed=SEED,
            steps=steps or self.spec.steps,
            cfg_scale=CFG_SCALE,
            sampler="euler",
            width=size,
            height=size,
            preview_interval=1,
            device=self.spec.device,
            precision=self.spec.precision,
        )

    def unet_step(self) -> None:
        with torch.inference_mode():
            self.denoise(self.latents, self.sigma)

    def vae_decode(self) -> None:
        with torch.inference_mode():
            decode_latents(self.model.vae, self.latents)

    def preview(self) -> None:
        self.to_rgb(self.latents)

    def txt2img(self, size: int) -> None:
        cond.forget_prompts()  # a new prompt each time, as diffusers sees it
        events = list(run(self.model, self.request(size), threading.Event()))
        assert isinstance(events[-1], Result), events[-1]

    def first_preview(self, prompt_seen: bool = False) -> float:
        """Wall seconds from `run(...)` (the Generate button) to the first Preview event; then cancel.

        Always wall time, even with the CPU clock: a latency, and with the CPU clock the sampler thread's
        next step (already running when the Preview arrives) would be counted too. Unless `prompt_seen`
        (Generate again with the same prompt), the prompt is encoded afresh, as diffusers does each time."""
        if not prompt_seen:
            cond.forget_prompts()
        cancel = threading.Event()
        start = time.perf_counter()
        events = run(self.model, self.request(self.spec.size), cancel)
        for event in events:
            if isinstance(event, Preview):
                seconds = time.perf_counter() - start
                break
        cancel.set()
        for _ in events:  # the sampler stops before its next UNet call
            pass
        return seconds
