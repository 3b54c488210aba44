"""Our side of the SDXL rows, through the same entry points the GUI uses (as `bench.ours` for SD 1.x)."""

from __future__ import annotations

import threading

import torch

from ldm_studio.bench.ours import Ours, touch_weights
from ldm_studio.bench.spec import CFG_SCALE, NEGATIVE, PROMPT, SEED
from ldm_studio.engine.checkpoints.loading import load_model
from ldm_studio.engine.pipelines import conditioning as cond
from ldm_studio.engine.pipelines import sdxl_conditioning as sdxl
from ldm_studio.engine.pipelines.run import run
from ldm_studio.engine.requests import Result
from ldm_studio.engine.sampling.denoisers import guided, make_denoiser
from ldm_studio.engine.sampling.schedules import linear_schedule, sampling_sigmas


class SdxlOurs(Ours):
    """load / prepare / unet_step / vae_decode from `Ours`, with SDXL's two towers and vector `y`."""

    def load(self) -> None:
        model = load_model(self.spec.path, device=self.spec.device, precision=self.spec.precision)
        touch_weights([model.unet, model.vae, model.text_encoder, model.text_encoder_2])
        self.model = model

    def prepare(self) -> None:
        model, size = self.model, self.spec.size
        side = size // model.config.vae.downscale
        generator = torch.Generator().manual_seed(SEED)
        self.latents = torch.randn(1, 4, side, side, generator=generator).to(model.device, model.dtype)
        schedule = linear_schedule(model.config.linear_start, model.config.linear_end, model.config.timesteps)
        self.sigma = float(sampling_sigmas(schedule, self.spec.steps)[0])
        with torch.inference_mode():
            positive, negative = sdxl.sdxl_pair(model, PROMPT, NEGATIVE, 1, (size, size))
        self.denoise = guided(make_denoiser(model.unet, schedule, "eps"), positive, negative, CFG_SCALE)
        # The infotext's Model hash reads the whole file once per file version (5 s for 6.9 GB here); the
        # app does it in the background when it scans the folder and remembers it across restarts, so a
        # generation in the window never pays it. Untimed here for the same reason.
        model.short_hash()

    def txt2img(self, size: int | None = None) -> None:
        # A new prompt each time, as diffusers sees it: no remembered encodings of either kind.
        cond.forget_prompts()
        sdxl.forget_sdxl_prompts()
        request = self.request(size or self.spec.size)
        events = list(run(self.model, request, threading.Event()))
        assert isinstance(events[-1], Result), events[-1]
