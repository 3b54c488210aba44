"""End to end: our txt2img, 9-channel inpaint and x4 upscale give diffusers' images (issue 4).

Both sides read the same tiny checkpoint file; diffusers' StableDiffusion(Inpaint|Upscale)Pipeline gets
the prompt, negative prompt, seed (a CPU generator), steps, CFG and the scheduler that our sampler and
schedule reproduce. Images are compared as floats in [0, 1] before rounding to 8 bits (rounding alone
could move a pixel by 1/255 > the tolerance): we tap the VAE decode our pipeline turns into its Result.
"""

import threading

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("diffusers")

from ldm_studio.engine.checkpoints.loading import load_model
from ldm_studio.engine.pipelines import run as our_pipeline
from ldm_studio.engine.requests import GenerationRequest, Result
from tests.checkpoints import write_tiny_checkpoint
from tests.engine import diffusers_pipelines as ref

TOLERANCE = 2e-3  # per pixel, images in [0, 1]
PROMPT, NEGATIVE = "a red cube on a wooden table", "blurry, grey"
SEED, STEPS, CFG = 1234, 3, 7.0


class Family:
    """One tiny checkpoint file, loaded by us and rebuilt as diffusers components."""

    def __init__(self, folder, name: str):
        path = write_tiny_checkpoint(folder / f"{name}.safetensors", name)
        self.ours = load_model(path, device="cpu", precision="fp32")
        self.components = ref.diffusers_components(path, name)


@pytest.fixture(scope="module")
def families(tmp_path_factory):
    folder = tmp_path_factory.mktemp("parity")
    cache: dict[str, Family] = {}

    def get(name: str) -> Family:
        if name not in cache:
            cache[name] = Family(folder, name)
        return cache[name]

    return get


def run_ours(model, request: GenerationRequest, monkeypatch) -> tuple[Result, torch.Tensor]:
    """Our Result and the decoded images it was made from, as float [B, H, W, 3] in [0, 1]."""
    decoded = []

    def tapped(vae, latents):
        images = decode_latents(vae, latents)
        decoded.append(images)
        return images

    decode_latents = our_pipeline.decode_latents
    monkeypatch.setattr(our_pipeline, "decode_latents", tapped)
    events = list(our_pipeline.run(model, request, threading.Event()))
    result = events[-1]
    assert isinstance(result, Result) and len(decoded) == 1
    floats = ((decoded[0].float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1)
    return result, floats


def _request(**changes) -> GenerationRequest:
    base = GenerationRequest(
        prompt=PROMPT,
        negative_prompt=NEGATIVE,
        seed=SEED,
        steps=STEPS,
        cfg_scale=CFG,
        width=64,
        height=64,
        preview_interval=0,
    )
    return base.replace(**changes)


def _reference_kwargs(**changes) -> dict:
    kwargs = {
        "prompt": PROMPT,
        "negative_prompt": NEGATIVE,
        "num_inference_steps": STEPS,
        "guidance_scale": CFG,
    }
    return kwargs | changes


def assert_close(ours: torch.Tensor, theirs: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """Max per-pixel error (inside `mask` if given), and that the image is not a flat or clipped one."""
    assert ours.shape == theirs.shape
    error = (ours - theirs).abs()
    if mask is not None:
        error = error[mask]
    worst = float(error.max())
    assert worst <= TOLERANCE, f"max per-pixel difference {worst:.2e} > {TOLERANCE:.0e}"
    # A parity on a constant or saturated image would prove little: the tiny model must draw something.
    assert float(theirs.std()) > 0.02 and float(((theirs > 0.01) & (theirs < 0.99)).float().mean()) > 0.5
    return worst


def _as_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def _rounded(floats: torch.Tensor) -> np.ndarray:
    return (floats * 255).round().to(torch.uint8).numpy()


@pytest.mark.parametrize(
    ("sampler", "schedule"),
    [("euler", "normal"), ("ddim", "normal"), ("dpmpp_2m", "normal"), ("dpmpp_2m", "karras")],
)
def test_sd1_txt2img_matches_stable_diffusion_pipeline(families, monkeypatch, sampler, schedule):
    family = families("sd1")
    result, ours = run_ours(family.ours, _request(sampler=sampler, schedule=schedule), monkeypatch)
    pipe = ref.txt2img_pipeline(family.components, ref.sd_scheduler(sampler, schedule))
    theirs = ref.run_reference(pipe, SEED, **_reference_kwargs(height=64, width=64))
    assert_close(ours, theirs)
    assert np.array_equal(_as_array(result.images[0]), _rounded(ours[0]))


def test_sd2_v_txt2img_matches_stable_diffusion_pipeline(families, monkeypatch):
    family = families("sd2-v")
    assert family.ours.config.prediction == "v"
    _, ours = run_ours(family.ours, _request(sampler="euler"), monkeypatch)
    pipe = ref.txt2img_pipeline(family.components, ref.sd_scheduler("euler", prediction="v"))
    theirs = ref.run_reference(pipe, SEED, **_reference_kwargs(height=64, width=64))
    assert_close(ours, theirs)


def _inpaint_inputs() -> tuple[np.ndarray, np.ndarray]:
    generator = np.random.default_rng(7)
    # A smooth image (gradients plus a little noise) and a rectangle to repaint, off the 8-pixel grid.
    ramp = np.linspace(0, 255, 64)
    image = np.stack([ramp[None, :].repeat(64, 0), ramp[:, None].repeat(64, 1), np.full((64, 64), 90.0)], -1)
    image = np.clip(image + generator.normal(0, 12, image.shape), 0, 255).astype(np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[13:45, 20:58] = 255
    return image, mask


def test_sd1_inpainting_9_channel_matches_inpaint_pipeline(families, monkeypatch):
    family = families("sd1-inpaint")
    image, mask = _inpaint_inputs()
    request = _request(
        mode="inpaint", sampler="euler", strength=1.0, mask_blur=0, init_image=image, mask=mask
    )
    result, ours = run_ours(family.ours, request, monkeypatch)
    pipe = ref.inpaint_pipeline(family.components, ref.sd_scheduler("euler"))
    theirs = ref.run_reference(
        pipe,
        SEED,
        **_reference_kwargs(
            image=Image.fromarray(image), mask_image=Image.fromarray(mask), height=64, width=64, strength=1.0
        ),
    )
    # Inside the painted area our pipeline keeps the model's pixels; outside, the input's, bit for bit.
    inside = torch.from_numpy(mask >= 128)[None, :, :, None].expand_as(ours)
    assert_close(ours, theirs, inside)
    got = _as_array(result.images[0])
    assert np.array_equal(got[mask < 128], image[mask < 128])
    assert np.array_equal(got[mask >= 128], _rounded(ours[0])[mask >= 128])


def test_x4_upscale_matches_upscale_pipeline(families, monkeypatch):
    family = families("sd-x4-upscaler")
    low_res = _inpaint_inputs()[0][::4, ::4].copy()  # 16×16 → 64×64
    request = _request(mode="upscale", sampler="ddim", init_image=low_res, noise_level=20)
    _, ours = run_ours(family.ours, request, monkeypatch)
    scheduler = ref.sd_scheduler("ddim", base=ref.X4_SCHEDULER, prediction="v")
    pipe = ref.upscale_pipeline(family.components, scheduler)
    theirs = ref.run_reference(
        pipe, SEED, **_reference_kwargs(image=Image.fromarray(low_res), noise_level=20)
    )
    assert ours.shape == (1, 64, 64, 3)
    assert_close(ours, theirs)
