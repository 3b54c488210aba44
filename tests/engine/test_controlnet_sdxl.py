"""SDXL txt2img steered by a ControlNet gives diffusers' StableDiffusionXLControlNetPipeline.

The tiny SDXL base and a tiny SDXL ControlNet (original layout) are read by both sides; the ControlNet
sees the same vector conditioning (pooled text + micro-conditioning) as the UNet on both.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("diffusers")

from diffusers import StableDiffusionXLControlNetPipeline

from ldm_studio.engine.checkpoints.loading import load_model
from ldm_studio.engine.requests import ControlNetUnit, GenerationRequest
from tests.controlnets import tiny_controlnet_config, tiny_controlnet_state_dict, write_tiny_controlnet
from tests.engine import diffusers_sdxl as ref
from tests.engine.diffusers_controlnet import diffusers_controlnet
from tests.engine.diffusers_pipelines import run_reference, sd_scheduler
from tests.engine.test_pipeline_parity import NEGATIVE, PROMPT, SEED, assert_close, run_ours
from tests.sdxl_checkpoints import write_tiny_sdxl_checkpoint

STEPS, CFG, SIZE = 3, 6.0, 64


def test_sdxl_controlnet_matches_diffusers(tmp_path, monkeypatch):
    path = write_tiny_sdxl_checkpoint(tmp_path / "sdxl.safetensors", "sdxl")
    control = write_tiny_controlnet(tmp_path / "controlnet-canny-sdxl.safetensors", "sdxl", seed=4)
    model = load_model(path, device="cpu", precision="fp32")
    rng = np.random.default_rng(2)
    image = (np.kron(rng.integers(0, 2, (8, 8, 1)), np.ones((8, 8, 3))) * 255).astype(np.uint8)
    request = GenerationRequest(
        prompt=PROMPT, negative_prompt=NEGATIVE, seed=SEED, steps=STEPS, cfg_scale=CFG, width=SIZE,
        height=SIZE, preview_interval=0, sampler="euler",
        controlnets=(ControlNetUnit(file=str(control), pixels=image, weight=0.9, end=0.7),),
    )  # fmt: skip
    _, ours = run_ours(model, request, monkeypatch)
    reference = diffusers_controlnet(
        tiny_controlnet_config("sdxl"), tiny_controlnet_state_dict("sdxl", seed=4)
    )
    pipe = StableDiffusionXLControlNetPipeline(
        **ref.components(path, "sdxl"), controlnet=reference, scheduler=sd_scheduler("euler"),
        add_watermarker=False, feature_extractor=None, image_encoder=None,
    )  # fmt: skip
    theirs = run_reference(
        pipe, SEED, prompt=PROMPT, negative_prompt=NEGATIVE, num_inference_steps=STEPS, guidance_scale=CFG,
        height=SIZE, width=SIZE, image=Image.fromarray(image), controlnet_conditioning_scale=0.9,
        control_guidance_end=0.7,
    )  # fmt: skip
    assert_close(ours, theirs)
