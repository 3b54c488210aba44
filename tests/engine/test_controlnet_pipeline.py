"""End to end: txt2img steered by one and by two ControlNets gives diffusers' ControlNet pipeline.

Both sides read the same tiny files (model and ControlNets in the original layout; diffusers' side goes
through its single-file converters). Same prompt, seed, steps, CFG, weights and guidance windows.
"""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("diffusers")

from diffusers import MultiControlNetModel, StableDiffusionControlNetPipeline

from ldm_studio.bench.reference import NO_SAFETY_CHECKER
from ldm_studio.engine.checkpoints.loading import load_model
from ldm_studio.engine.errors import CheckpointError, InputError
from ldm_studio.engine.pipelines import run as our_pipeline
from ldm_studio.engine.requests import ControlNetUnit, GenerationRequest
from tests.checkpoints import write_tiny_checkpoint
from tests.controlnets import tiny_controlnet_config, tiny_controlnet_state_dict, write_tiny_controlnet
from tests.engine import diffusers_pipelines as ref
from tests.engine.diffusers_controlnet import diffusers_controlnet
from tests.engine.test_pipeline_parity import assert_close, run_ours

PROMPT, NEGATIVE = "a red cube on a wooden table", "blurry, grey"
SEED, STEPS, CFG, SIZE = 1234, 3, 7.0, 64


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("controlnet")
    path = write_tiny_checkpoint(folder / "sd1.safetensors", "sd1")
    files = [
        write_tiny_controlnet(folder / "control_v11p_sd15_canny.pth", "sd1", seed=1),
        write_tiny_controlnet(folder / "control_v11f1p_sd15_depth.safetensors", "sd1", seed=2),
    ]
    config = tiny_controlnet_config("sd1")
    references = [diffusers_controlnet(config, tiny_controlnet_state_dict("sd1", seed=s)) for s in (1, 2)]
    model = load_model(path, device="cpu", precision="fp32")
    return model, ref.diffusers_components(path, "sd1"), files, references


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    ramp = np.linspace(0, 255, SIZE)
    smooth = np.stack(
        [ramp[None].repeat(SIZE, 0), ramp[:, None].repeat(SIZE, 1), np.full((SIZE, SIZE), 60.0)], -1
    )
    blocks = np.kron(rng.integers(0, 2, (8, 8, 1)), np.ones((8, 8, 3))) * 255
    return [smooth.astype(np.uint8), blocks.astype(np.uint8)]


def _request(units) -> GenerationRequest:
    return GenerationRequest(
        prompt=PROMPT, negative_prompt=NEGATIVE, seed=SEED, steps=STEPS, cfg_scale=CFG,
        width=SIZE, height=SIZE, preview_interval=0, sampler="euler", controlnets=tuple(units),
    )  # fmt: skip


def _theirs(components, controlnet, images, **options) -> torch.Tensor:
    pipe = StableDiffusionControlNetPipeline(
        **components, controlnet=controlnet, scheduler=ref.sd_scheduler("euler"), **NO_SAFETY_CHECKER
    )
    image = (
        [Image.fromarray(a) for a in images]
        if isinstance(controlnet, MultiControlNetModel)
        else Image.fromarray(images[0])
    )
    return ref.run_reference(
        pipe, SEED, prompt=PROMPT, negative_prompt=NEGATIVE, num_inference_steps=STEPS, guidance_scale=CFG,
        height=SIZE, width=SIZE, image=image, **options,
    )  # fmt: skip


def test_one_controlnet_matches_diffusers(setup, monkeypatch):
    model, components, files, references = setup
    images = _images()
    unit = ControlNetUnit(file=str(files[0]), pixels=images[0], weight=0.8)
    result, ours = run_ours(model, _request([unit]), monkeypatch)
    theirs = _theirs(components, references[0], images, controlnet_conditioning_scale=0.8)
    assert_close(ours, theirs)
    # The control changed the image (so the parity is about the ControlNet, not only the UNet).
    _, plain = run_ours(model, _request([]), monkeypatch)
    assert float((plain - ours).abs().max()) > 0.02
    text = result.infotexts[0]
    assert 'ControlNet 0: "Module: none, Model: control_v11p_sd15_canny [' in text
    assert (
        "Weight: 0.8, Resize Mode: Just Resize, Guidance Start: 0, Guidance End: 1, Control Mode: Balanced"
        in text
    )


def test_two_controlnets_with_windows_match_diffusers(setup, monkeypatch):
    model, components, files, references = setup
    images = _images()
    units = [
        ControlNetUnit(file=str(files[0]), pixels=images[0], weight=0.8, end=0.7),
        ControlNetUnit(file=str(files[1]), pixels=images[1], weight=0.5, start=0.34),
    ]
    _, ours = run_ours(model, _request(units), monkeypatch)
    theirs = _theirs(
        components,
        MultiControlNetModel(references),
        images,
        controlnet_conditioning_scale=[0.8, 0.5],
        control_guidance_start=[0.0, 0.34],
        control_guidance_end=[0.7, 1.0],
    )
    assert_close(ours, theirs)


def test_resized_control_image_is_reported(setup, monkeypatch):
    model, _, files, _ = setup
    small = _images()[1][:40, :48]
    result, _ = run_ours(model, _request([ControlNetUnit(file=str(files[0]), pixels=small)]), monkeypatch)
    assert "ControlNet 0: control image 48x40 resized to 64x64" in result.notes


def test_control_modes_weight_the_halves_as_the_extension(setup):
    """prompt: soft weights on both halves; control: soft weights, conditional rows only."""
    from ldm_studio.engine.pipelines.controlnet_conditioning import prepare_controls
    from ldm_studio.engine.sampling.denoisers import Conditioning

    model, _, files, _ = setup
    base = ControlNetUnit(file=str(files[0]), pixels=_images()[0], weight=2.0)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 8, 8, generator=gen)
    cond = Conditioning(torch.randn(2, 77, 32, generator=gen), cond_rows=torch.tensor([0.0, 1.0]))
    t = torch.tensor([500.0, 500.0])
    results = {}
    for mode in ("balanced", "prompt", "control"):
        controls = prepare_controls(model, _request([dataclasses.replace(base, mode=mode)]))
        controls.set_sigmas(torch.tensor([10.0, 1.0, 0.0]))
        with torch.no_grad():
            results[mode] = controls(x, t, 10.0, cond)
    balanced, prompt, control = (results[m] for m in ("balanced", "prompt", "control"))
    count = len(balanced["down_residuals"]) + 1
    for j, (b, p, c) in enumerate(
        zip(balanced["down_residuals"], prompt["down_residuals"], control["down_residuals"], strict=True)
    ):
        soft = 0.825 ** (count - 1 - j)
        assert torch.allclose(p, b * soft, atol=1e-6)
        assert torch.allclose(c[1], b[1] * soft, atol=1e-6) and float(c[0].abs().max()) == 0.0
    assert torch.allclose(prompt["mid_residual"], balanced["mid_residual"])


def test_bad_controlnets_are_one_line_errors(setup, tmp_path):
    model, _, files, _ = setup
    sd2 = write_tiny_controlnet(tmp_path / "control_sd21_canny.safetensors", "sd2")
    run = our_pipeline.run
    with pytest.raises(
        InputError, match=r"^ControlNet control_sd21_canny is for SD 2\.x but the model is SD 1"
    ):
        run(model, _request([ControlNetUnit(file=str(sd2), pixels=_images()[0])]), threading.Event())
    truncated = tmp_path / "cut_canny.safetensors"
    truncated.write_bytes(files[1].read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="truncated"):
        run(model, _request([ControlNetUnit(file=str(truncated), pixels=_images()[0])]), threading.Event())
    with pytest.raises(InputError, match=r"depth preprocessor needs its annotator network \(dpt_hybrid"):
        run(
            model,
            _request([ControlNetUnit(file=str(files[1]), pixels=_images()[0], module="depth")]),
            threading.Event(),
        )
    with pytest.raises(InputError, match="no control image"):
        run(model, _request([ControlNetUnit(file=str(files[1]))]), threading.Event())


def test_img2img_off_the_grid_and_inpaint_with_the_inpaint_controlnet_run(setup):
    """img2img pads a 60x52 input to the model's grid: the control map is padded alike; the inpaint
    preprocessor takes the request's mask; 'only masked' is refused in one line."""
    from ldm_studio.engine.requests import Result

    model, _, files, _ = setup
    image = _images()[0][:52, :60]
    unit = ControlNetUnit(file=str(files[0]), pixels=image)
    request = _request([unit]).replace(mode="img2img", init_image=image, strength=0.6)
    events = list(our_pipeline.run(model, request, threading.Event()))
    assert isinstance(events[-1], Result) and events[-1].images[0].size == (60, 52)
    mask = np.zeros((64, 64), np.uint8)
    mask[16:40, 16:48] = 255
    inpaint = dataclasses.replace(unit, pixels=_images()[0], module="inpaint")
    request = _request([inpaint]).replace(mode="inpaint", init_image=_images()[0], mask=mask, strength=1.0)
    assert isinstance(list(our_pipeline.run(model, request, threading.Event()))[-1], Result)
    with pytest.raises(InputError, match="only masked"):
        our_pipeline.run(model, request.replace(inpaint_only_masked=True), threading.Event())
