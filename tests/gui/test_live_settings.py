"""Live mode's fast settings: few-step models by their names, everyone else keeps their own steps."""

from __future__ import annotations

import pytest

from ldm_studio.engine.requests import GenerationRequest
from ldm_studio.gui.jobs.live_settings import FAST_STEPS, live_settings

USER = GenerationRequest(
    prompt="a fox", steps=25, cfg_scale=7.0, sampler="dpmpp_2m", schedule="karras", batch_size=4
)


def test_an_ordinary_model_keeps_the_users_sampler_and_steps():
    live = live_settings(USER.replace(model="/m/dreamshaper_8.safetensors", preview_interval=0))
    assert live.kind == ""
    request = live.request
    assert (request.sampler, request.schedule, request.steps, request.cfg_scale) == (
        "dpmpp_2m",
        "karras",
        25,
        7.0,
    )
    assert (request.batch_size, request.preview_interval) == (1, 1)  # one image, a preview every step


@pytest.mark.parametrize(
    "changes, because",
    [
        ({"loras": (("/loras/lcm-lora-sdv1-5.safetensors", 1.0, 1.0),)}, "lcm-lora-sdv1-5"),
        ({"prompt": "a fox <lora:LCM_SD15:1>"}, "LCM_SD15"),
        ({"model": "/m/LCM_Dreamshaper_v7.safetensors"}, "LCM_Dreamshaper_v7"),
        ({"sampler": "lcm"}, "the LCM sampler"),
    ],
)
def test_lcm_models_and_loras_get_the_lcm_sampler_and_few_steps(changes, because):
    live = live_settings(USER.replace(**changes))
    assert (live.kind, live.because) == ("lcm", because)
    assert (live.request.sampler, live.request.steps, live.request.cfg_scale) == ("lcm", FAST_STEPS, 1.0)


@pytest.mark.parametrize("name", ["sd_xl_turbo_1.0_fp16", "sdxl_lightning_4step", "Hyper-SD15-8steps"])
def test_turbo_lightning_hyper_get_trailing_euler(name):
    live = live_settings(USER.replace(model=f"/m/{name}.safetensors"))
    request = live.request
    assert live.kind == "few-step"
    assert (request.sampler, request.schedule, request.steps, request.cfg_scale) == (
        "euler",
        "trailing",
        4,
        1.0,
    )


def test_fewer_steps_than_the_fast_setting_stay():
    assert live_settings(USER.replace(sampler="lcm", steps=2)).request.steps == 2
