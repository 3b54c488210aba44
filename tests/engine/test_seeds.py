"""Every image of a batch can be made again alone: image i of a batch seeded s is batch 1 with seed s + i."""

import dataclasses
import threading

import numpy as np
import pytest
import torch

from ldm_studio.engine.checkpoints.loading import load_model
from ldm_studio.engine.metadata import read_png_parameters
from ldm_studio.engine.outputs import save_png_atomic
from ldm_studio.engine.pipelines import run as our_pipeline
from ldm_studio.engine.requests import GenerationRequest, Result
from ldm_studio.engine.sampling.noise import NoiseSource, image_seeds
from tests.checkpoints import write_tiny_checkpoint

SEED = 1234
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seed-models")
    cache = {}

    def get(family: str):
        if family not in cache:
            model = load_model(write_tiny_checkpoint(folder / f"{family}.safetensors", family))
            cache[family] = dataclasses.replace(
                model, config=dataclasses.replace(model.config, default_size=(64, 64))
            )
        return cache[family]

    return get


def one_image_at_a_time(unet):
    """The UNet called once per batch item: a batched conv or matmul on the CPU rounds differently from a
    batch of one (2e-6 on these models, amplified by CFG), which is not what this test is about."""

    def call(x, t, context=None, y=None):
        def item(value, i):
            return value[i : i + 1] if isinstance(value, torch.Tensor) and value.ndim else value

        outs = [unet(x[i : i + 1], item(t, i), item(context, i), y=item(y, i)) for i in range(x.shape[0])]
        return torch.cat(outs)

    return call


def run_tapped(model, request: GenerationRequest, monkeypatch, unbatched=True) -> tuple[Result, torch.Tensor]:
    """The Result and the final latents (before the VAE), so images compare as floats."""
    latents = []
    if unbatched:
        make = our_pipeline.make_denoiser
        monkeypatch.setattr(
            our_pipeline, "make_denoiser", lambda unet, *a, **k: make(one_image_at_a_time(unet), *a, **k)
        )

    def tapped(vae, x):
        latents.append(x.clone())
        return decode(vae, x)

    decode = our_pipeline.decode_latents
    monkeypatch.setattr(our_pipeline, "decode_latents", tapped)
    events = list(our_pipeline.run(model, request, threading.Event()))
    monkeypatch.undo()
    assert isinstance(events[-1], Result) and len(latents) == 1
    return events[-1], latents[0]


def _image(width=64, height=64) -> np.ndarray:
    return np.random.default_rng(5).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _mask() -> np.ndarray:
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 8:40] = 255
    return mask


CASES = {
    "txt2img euler": ("sd1", dict(mode="txt2img")),
    "txt2img euler_a": ("sd1", dict(mode="txt2img", sampler="euler_a")),
    "txt2img dpmpp_2m_sde": ("sd1", dict(mode="txt2img", sampler="dpmpp_2m_sde")),
    "img2img euler_a": ("sd1", dict(mode="img2img", sampler="euler_a", init_image=_image(), strength=0.6)),
    "inpaint blended euler_a": (
        "sd1",
        dict(mode="inpaint", sampler="euler_a", init_image=_image(), mask=_mask(), strength=0.8),
    ),
    # The 9-channel model encodes the masked image with a posterior sample: one per image's seed.
    "inpaint 9-channel euler_a": (
        "sd1-inpaint",
        dict(mode="inpaint", sampler="euler_a", init_image=_image(), mask=_mask(), strength=1.0),
    ),
    "upscale x4": ("sd-x4-upscaler", dict(mode="upscale", init_image=_image(16, 16), sampler="euler_a")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_image_i_of_a_batch_is_batch_one_with_seed_plus_i(models, monkeypatch, case):
    family, fields = CASES[case]
    request = GenerationRequest(prompt="a red cube", steps=3, width=64, height=64, seed=SEED, **fields)
    batch, batch_latents = run_tapped(models(family), request.replace(batch_size=3), monkeypatch)
    assert batch.seeds == [SEED, SEED + 1, SEED + 2]
    for i in range(3):
        alone, latents = run_tapped(models(family), request.replace(seed=SEED + i), monkeypatch)
        torch.testing.assert_close(batch_latents[i : i + 1], latents, atol=TOLERANCE, rtol=0)
        assert f"Seed: {SEED + i}," in batch.infotexts[i]
        assert batch.infotexts[i] == alone.infotexts[0]
    assert not torch.allclose(batch_latents[0], batch_latents[1])


def test_a_batch_of_one_draws_what_one_generator_draws():
    """So batch 1 keeps diffusers' images: their noise is randn(shape, Generator('cpu').manual_seed(s))."""
    source = NoiseSource.for_batch(7, 1)
    generator = torch.Generator("cpu").manual_seed(7)
    for shape in ((1, 4, 8, 8), (1, 4, 8, 8), (1, 3, 5, 5)):
        assert torch.equal(source.randn(shape), torch.randn(shape, generator=generator))


def test_seeds_wrap_at_the_generators_64_bit_range():
    assert image_seeds(2**64 - 2, 3) == [2**64 - 2, 2**64 - 1, 0]
    wrapped = NoiseSource.for_batch(2**64 - 1, 2).randn((2, 4))
    assert torch.equal(wrapped[1], NoiseSource.for_batch(0, 1).randn((1, 4))[0])


def test_each_saved_image_stores_its_own_seed_in_name_and_both_chunks(models, tmp_path):
    request = GenerationRequest(prompt="a cube", steps=2, width=64, height=64, seed=SEED, batch_size=2)
    events = list(our_pipeline.run(models("sd1"), request, threading.Event()))
    result = events[-1]
    for image, infotext, seed in zip(result.images, result.infotexts, result.seeds, strict=True):
        path = save_png_atomic(image, infotext, request, tmp_path, seed=seed)
        assert path.name.endswith(f"-{seed}.png")
        stored = read_png_parameters(path)  # our chunk: the image's own batch-of-one request
        assert (stored.seed, stored.batch_size) == (seed, 1)
    assert result.seeds == [SEED, SEED + 1]


@pytest.mark.parametrize("case", ["txt2img euler_a", "inpaint 9-channel euler_a"])
def test_with_the_real_batched_unet_the_pixels_agree_too(models, monkeypatch, case):
    """Batched UNet calls round differently in float32: latents agree within 1e-4, pixels within 1 level."""
    family, fields = CASES[case]
    request = GenerationRequest(prompt="a red cube", steps=3, width=64, height=64, seed=SEED, **fields)
    batch, batch_latents = run_tapped(models(family), request.replace(batch_size=2), monkeypatch, False)
    for i in range(2):
        alone, latents = run_tapped(models(family), request.replace(seed=SEED + i), monkeypatch, False)
        torch.testing.assert_close(batch_latents[i : i + 1], latents, atol=1e-4, rtol=0)
        pixels = np.abs(np.asarray(batch.images[i], np.int16) - np.asarray(alone.images[0], np.int16))
        assert pixels.max() <= 1
