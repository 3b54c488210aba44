"""The bundled demo models, loaded through the same loader as user checkpoints, do what a user expects.

Held-out images and captions come from the dataset's held-out split: (shape, colour, background)
combinations the models never saw in training under any phrasing.
"""

import threading

import numpy as np
import pytest
import torch
from PIL import Image

from ldm_studio.engine.checkpoints.demo_models import demo_model_path
from ldm_studio.engine.checkpoints.loading import load_model
from ldm_studio.engine.pipelines.run import run
from ldm_studio.engine.requests import GenerationRequest, Result
from ldm_studio.training.attributes import read_attributes
from ldm_studio.training.crops import box_downsample
from ldm_studio.training.dataset import PALETTE, SIZES, canonical_caption, held_out_scenes, render_scene
from ldm_studio.training.tensors import psnr, to_model_range, to_uint8

TXT2IMG = demo_model_path("txt2img")
UPSCALER = demo_model_path("upscale")
pytestmark = pytest.mark.skipif(
    not (TXT2IMG.exists() and UPSCALER.exists()), reason="the demo models are not in resources/models"
)
INPAINT_COLOUR_SHARE = 0.75  # measured 15 of 16 (94 %) at the model's CFG 3; 12 of 16 at CFG 7


@pytest.fixture(scope="module")
def txt2img():
    return load_model(TXT2IMG, device="cpu")


@pytest.fixture(scope="module")
def upscaler():
    return load_model(UPSCALER, device="cpu")


def _generate(model, **fields) -> np.ndarray:
    """One image as the app makes it: the model's own guidance scale (and upscale noise level) unless
    `fields` give one."""
    fields.setdefault("cfg_scale", model.config.default_cfg_scale)
    if fields.get("mode") == "upscale":
        fields.setdefault("noise_level", model.config.default_noise_level)
    request = GenerationRequest(model=str(model.path), preview_interval=0, **fields)
    events = list(run(model, request, threading.Event()))
    assert isinstance(events[-1], Result)
    return np.asarray(events[-1].images[0].convert("RGB"))


def test_the_bundled_models_fit_in_40_mb_and_say_what_they_do(txt2img, upscaler):
    assert TXT2IMG.stat().st_size + UPSCALER.stat().st_size <= 40 * 1024 * 1024
    assert txt2img.config.default_size == (128, 128) and txt2img.config.default_cfg_scale == 3.0
    assert {"txt2img", "img2img", "inpaint"} <= set(txt2img.modes) and txt2img.text_encoder is not None
    assert upscaler.modes == ("upscale",) and upscaler.text_encoder is None
    assert upscaler.config.default_noise_level == 0  # trained on clean renders: it keeps them exactly


def test_autoencoder_reconstructs_held_out_images_above_28_db(txt2img):
    images = np.stack([render_scene(s) for s in held_out_scenes(per_triple=1, seed=5)[:24]])
    with torch.inference_mode():
        decoded = txt2img.vae.decode(txt2img.vae.encode(to_model_range(images)))
    assert psnr(to_uint8(decoded), images) >= 28.0


@pytest.fixture(scope="module")
def held_out_generations(txt2img):
    """Each of 48 held-out captions, generated once (20 Euler steps, the model's CFG 3) and read back."""
    scenes = held_out_scenes(per_triple=1, seed=0)
    assert len(scenes) >= 48
    found = [
        read_attributes(_generate(txt2img, prompt=canonical_caption(s), seed=i, width=128, height=128))
        for i, s in enumerate(scenes)
    ]
    return scenes, found


@pytest.mark.slow
def test_held_out_captions_give_the_asked_background_colour(held_out_generations):
    scenes, found = held_out_generations
    backgrounds = np.mean([f.background == s.background for f, s in zip(found, scenes, strict=True)])
    assert backgrounds >= 0.9, f"background right in {backgrounds:.0%}"  # measured 100 % (94 % at CFG 7)


@pytest.mark.slow
# measured: object colour right in 90 % (83-90 % over three seed sets; 71 % at CFG 7), shape 33 %: blobs
def test_held_out_captions_give_the_asked_object_colour(held_out_generations):
    scenes, found = held_out_generations
    colours = np.mean([f.colour == s.colour for f, s in zip(found, scenes, strict=True)])
    assert colours >= 0.8, f"object colour right in {colours:.0%}"


@pytest.mark.slow
# Measured on these 8 at the model's own noise level 0: 38.98 dB against bicubic's 38.81 (the decoder
# alone, from the true latent: 39.24 dB; at SD's noise level 20 the pipeline gives 38.16).
def test_upscaler_beats_bicubic_on_held_out_images(upscaler):
    ours, bicubic = [], []
    for scene in held_out_scenes(per_triple=1, seed=7)[:8]:
        # The low-res input is the truth 4x box-downsampled, as super-resolution benchmarks degrade it.
        truth = render_scene(scene, 512)
        low = box_downsample(truth[None])[0].round().astype(np.uint8)
        upscaled = _generate(upscaler, mode="upscale", init_image=low, seed=0, steps=20)
        assert upscaled.shape == truth.shape
        ours.append(psnr(upscaled, truth))
        resized = Image.fromarray(low).resize((512, 512), Image.Resampling.BICUBIC)
        bicubic.append(psnr(np.asarray(resized), truth))
    assert np.mean(ours) > np.mean(bicubic), f"ours {np.mean(ours):.2f} dB, bicubic {np.mean(bicubic):.2f} dB"


def _painted_box(scene, size: int = 128, margin: float = 1.6) -> np.ndarray:
    """A mask (255 = repaint) over where the caption puts the object, `margin` times its extent."""
    mask = np.zeros((size, size), np.uint8)
    cx, cy = (round(v * size) for v in scene.centre)
    reach = round(SIZES[scene.size] * size * margin)
    mask[max(0, cy - reach) : cy + reach, max(0, cx - reach) : cx + reach] = 255
    return mask


@pytest.mark.slow
def test_inpainting_paints_the_prompted_object_into_the_painted_region(txt2img):
    """A plain background, a box painted where the caption puts the object: the demo model (blended
    latents) draws an object of the asked colour inside the box and leaves every other pixel alone."""
    scenes = held_out_scenes(per_triple=1, seed=3)[:16]
    colours = inside = 0
    for i, scene in enumerate(scenes):
        image = np.full((128, 128, 3), PALETTE[scene.background], np.uint8)
        mask = _painted_box(scene)
        painted = _generate(
            txt2img,
            mode="inpaint",
            init_image=image,
            mask=mask,
            strength=1.0,
            seed=i,
            prompt=canonical_caption(scene),
            width=128,
            height=128,
        )
        assert np.array_equal(painted[mask == 0], image[mask == 0])  # outside the painted box: untouched
        found = read_attributes(painted)
        colours += found.colour == scene.colour
        if found.centre is not None:
            inside += bool(mask[int(found.centre[1] * 128), int(found.centre[0] * 128)])
    assert colours / len(scenes) >= INPAINT_COLOUR_SHARE, f"object colour right in {colours}/{len(scenes)}"
    assert inside >= colours, f"{inside} objects inside the box of {colours} found"
