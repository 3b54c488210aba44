"""End to end on tiny SDXL files: our txt2img, img2img, 9-channel inpaint and refiner hand-off give the
images of diffusers' StableDiffusionXL(Img2Img|Inpaint)Pipeline built from the same file.

Same prompt, negative prompt, seed (a CPU generator), steps, CFG and scheduler; images compared as floats
in [0, 1] from the VAE decode our pipeline turns into its Result (see test_pipeline_parity.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("diffusers")

from ldm_studio.bench.reference import SD_SCHEDULER
from ldm_studio.engine.checkpoints.loading import load_model
from ldm_studio.engine.errors import InputError
from ldm_studio.engine.pipelines import run as our_pipeline
from ldm_studio.engine.pipelines import sdxl_conditioning
from ldm_studio.engine.requests import SAMPLERS, SCHEDULES, GenerationRequest, Preview, Progress
from tests.engine import diffusers_sdxl as ref
from tests.engine.diffusers_pipelines import run_reference, sd_scheduler
from tests.engine.test_pipeline_parity import NEGATIVE, PROMPT, SEED, _inpaint_inputs, assert_close, run_ours
from tests.sdxl_checkpoints import write_tiny_sdxl_checkpoint

STEPS, CFG, SIZE = 4, 6.0, 64


class Tiny:
    def __init__(self, folder, kind: str):
        self.path = write_tiny_sdxl_checkpoint(folder / f"{kind}.safetensors", kind)
        self.ours = load_model(self.path, device="cpu", precision="fp32")
        self.parts = ref.components(self.path, kind)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sdxl")
    cache: dict[str, Tiny] = {}

    def get(kind: str) -> Tiny:
        if kind not in cache:
            cache[kind] = Tiny(folder, kind)
        return cache[kind]

    return get


def _request(**changes) -> GenerationRequest:
    base = GenerationRequest(
        prompt=PROMPT,
        negative_prompt=NEGATIVE,
        seed=SEED,
        steps=STEPS,
        cfg_scale=CFG,
        width=SIZE,
        height=SIZE,
        preview_interval=0,
    )
    return base.replace(**changes)


def _kwargs(**changes) -> dict:
    base = {
        "prompt": PROMPT,
        "negative_prompt": NEGATIVE,
        "num_inference_steps": STEPS,
        "guidance_scale": CFG,
        "height": SIZE,
        "width": SIZE,
    }
    return base | changes


@pytest.mark.parametrize(("sampler", "schedule"), [("euler", "normal"), ("dpmpp_2m", "karras")])
def test_txt2img_matches_sdxl_pipeline(tiny, monkeypatch, sampler, schedule):
    model = tiny("sdxl")
    _, ours = run_ours(model.ours, _request(sampler=sampler, schedule=schedule), monkeypatch)
    pipe = ref.txt2img(model.parts, sd_scheduler(sampler, schedule))
    theirs = run_reference(pipe, SEED, **_kwargs())
    assert_close(ours, theirs)


def test_empty_negative_zeros_by_default_and_encoded_on_request(tiny, monkeypatch):
    model = tiny("sdxl")
    pipe = ref.txt2img(model.parts, sd_scheduler("euler"))
    _, zeros = run_ours(model.ours, _request(negative_prompt=""), monkeypatch)
    assert_close(zeros, run_reference(pipe, SEED, **_kwargs(negative_prompt=None)))
    _, encoded = run_ours(model.ours, _request(negative_prompt="", empty_negative="encode"), monkeypatch)
    assert_close(encoded, run_reference(pipe, SEED, **_kwargs(negative_prompt="")))
    assert float((zeros - encoded).abs().max()) > 0.01  # the two rules draw different images


def test_long_prompt_uses_chunks_on_both_encoders(tiny):
    model = tiny("sdxl").ours
    long = " ".join(["a red cube on a table"] * 15)  # 90 tokens: two chunks
    with torch.inference_mode():
        (context, pooled), (uncond, _) = sdxl_conditioning.encode_sdxl_pair(model, long, "grey", False)
        (short, short_pooled), _ = sdxl_conditioning.encode_sdxl_pair(model, "a red cube", "", False)
    assert context.shape == uncond.shape == (1, 154, 64 + 128) and short.shape == (1, 77, 192)
    assert pooled.shape == short_pooled.shape == (1, 128)
    # The second chunk of the prompt is not the empty chunk the negative got.
    assert not torch.allclose(context[:, 77:], uncond[:, 77:])


def test_img2img_matches_sdxl_img2img_pipeline(tiny, monkeypatch):
    model = tiny("sdxl")
    image = _inpaint_inputs()[0]
    request = _request(mode="img2img", strength=0.6, init_image=image)
    _, ours = run_ours(model.ours, request, monkeypatch)
    # diffusers samples the VAE posterior with the generator; ours takes its mode. Hand diffusers our
    # encoded latent (a 4-channel "image" is taken as latents), so the comparison covers the rest.
    with torch.inference_mode():
        from ldm_studio.engine.pipelines.conditioning import encode_images

        latents = encode_images(model.ours, image, 1)
    pipe = ref.img2img(model.parts, sd_scheduler("euler"))
    theirs = run_reference(pipe, SEED, **_kwargs(image=latents, strength=0.6))
    assert_close(ours, theirs)


def test_inpaint_9_channel_matches_sdxl_inpaint_pipeline(tiny, monkeypatch):
    model = tiny("sdxl-inpaint")
    image, mask = _inpaint_inputs()
    request = _request(mode="inpaint", strength=1.0, mask_blur=0, init_image=image, mask=mask)
    result, ours = run_ours(model.ours, request, monkeypatch)
    pipe = ref.inpaint(model.parts, sd_scheduler("euler"))
    theirs = run_reference(
        pipe, SEED, **_kwargs(image=Image.fromarray(image), mask_image=Image.fromarray(mask), strength=1.0)
    )
    inside = torch.from_numpy(mask >= 128)[None, :, :, None].expand_as(ours)
    assert_close(ours, theirs, inside)
    got = np.asarray(result.images[0].convert("RGB"))
    assert np.array_equal(got[mask < 128], image[mask < 128])


def test_blended_inpaint_with_the_base_keeps_the_outside(tiny, monkeypatch):
    model = tiny("sdxl")
    image, mask = _inpaint_inputs()
    request = _request(mode="inpaint", strength=0.8, mask_blur=0, init_image=image, mask=mask, batch_size=2)
    result, ours = run_ours(model.ours, request, monkeypatch)
    assert len(result.images) == 2 and ours.shape == (2, SIZE, SIZE, 3)
    got = np.asarray(result.images[0].convert("RGB"))
    assert np.array_equal(got[mask < 128], image[mask < 128])
    assert not np.array_equal(got[mask >= 128], image[mask >= 128])


@pytest.mark.parametrize("switch", [0.8, 0.5])
def test_refiner_hand_off_matches_denoising_end_and_start(tiny, monkeypatch, switch):
    base, refiner = tiny("sdxl"), tiny("sdxl-refiner")
    request = _request(steps=10, refiner=str(refiner.path), refiner_switch=switch, preview_interval=3)
    events = []
    original_run = our_pipeline.run

    def recording(model, request, cancel):
        for event in original_run(model, request, cancel):
            events.append(event)
            yield event

    monkeypatch.setattr(our_pipeline, "run", recording)
    _, ours = run_ours(base.ours, request, monkeypatch)
    monkeypatch.undo()
    steps = [e.step for e in events if isinstance(e, Progress)]
    assert steps == list(range(11)) and {e.total for e in events if isinstance(e, Progress)} == {10}
    assert any(isinstance(e, Preview) for e in events)

    first = ref.txt2img(base.parts, sd_scheduler("euler"))
    second = ref.img2img(refiner.parts, sd_scheduler("euler"), requires_aesthetics_score=True)
    generator = torch.Generator("cpu").manual_seed(SEED)
    for pipe in (first, second):
        pipe.set_progress_bar_config(disable=True)
    with torch.no_grad():
        latents = first(
            generator=generator,
            output_type="latent",
            **_kwargs(num_inference_steps=10, denoising_end=switch),
        ).images
        theirs = second(
            image=latents,
            prompt=PROMPT,
            negative_prompt=NEGATIVE,
            num_inference_steps=10,
            guidance_scale=CFG,
            denoising_start=switch,
            generator=generator,
            output_type="np",
        ).images
    assert_close(ours, torch.from_numpy(theirs))


def test_refiner_alone_runs_txt2img(tiny, monkeypatch):
    _, ours = run_ours(tiny("sdxl-refiner").ours, _request(), monkeypatch)
    assert ours.shape == (1, SIZE, SIZE, 3) and torch.isfinite(ours).all()


def test_sizes_must_be_multiples_of_32(tiny):
    import threading

    with pytest.raises(InputError, match="multiple of 32"):
        our_pipeline.run(tiny("sdxl").ours, _request(width=80), threading.Event())
    refiner = str(tiny("sdxl-refiner").path)
    with pytest.raises(InputError, match="with the refiner sdxl-refiner: width 96 is not a multiple of 64"):
        our_pipeline.run(tiny("sdxl").ours, _request(width=96, refiner=refiner), threading.Event())
    with pytest.raises(InputError, match="hand-off works in txt2img and img2img"):
        image, mask = _inpaint_inputs()
        inpaint = _request(mode="inpaint", refiner=refiner, init_image=image, mask=mask)
        our_pipeline.run(tiny("sdxl").ours, inpaint, threading.Event())
    with pytest.raises(InputError, match="empty_negative"):
        our_pipeline.run(tiny("sdxl").ours, _request(empty_negative="nothing"), threading.Event())


def test_v_prediction_with_zero_terminal_snr_matches_sdxl_pipeline(tmp_path, monkeypatch):
    # NoobAI-XL v-pred style: `v_pred` and `ztsnr` keys; diffusers' Euler with rescale_betas_zero_snr.
    path = write_tiny_sdxl_checkpoint(tmp_path / "vpred.safetensors", "sdxl", v_pred=True, ztsnr=True)
    model = load_model(path, device="cpu", precision="fp32")
    assert model.prediction == "v" and model.config.zero_terminal_snr
    _, ours = run_ours(model, _request(), monkeypatch)
    scheduler = sd_scheduler("euler", base={**SD_SCHEDULER, "rescale_betas_zero_snr": True}, prediction="v")
    assert scheduler.config.rescale_betas_zero_snr
    parts = ref.components(path, "sdxl")
    theirs = run_reference(ref.txt2img(parts, scheduler), SEED, **_kwargs())
    assert_close(ours, theirs)


def test_half_precision_vae_overflow_is_retried_in_fp32(tmp_path):
    # SDXL's VAE overflows in fp16 (NaN, black images): the decode is retried in fp32 (vae_codec).
    from ldm_studio.engine.pipelines.vae_codec import decode_latents

    path = write_tiny_sdxl_checkpoint(tmp_path / "half.safetensors", "sdxl", dtype=torch.float16)
    model = load_model(path, device="cpu", precision="bf16")
    vae = model.vae
    decode = vae.decode
    calls = []

    def overflowing(latents):
        calls.append(vae.dtype)
        images = decode(latents)
        return images if vae.dtype == torch.float32 else torch.full_like(images, float("nan"))

    vae.decode = overflowing
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    with torch.inference_mode():
        images = decode_latents(vae, latents)
    assert calls == [torch.bfloat16, torch.float32] and torch.isfinite(images).all()
    assert vae.dtype == torch.bfloat16  # put back afterwards


def test_only_masked_inpaint_works_at_the_native_size_and_pastes_back(tiny, monkeypatch):
    import dataclasses

    model = tiny("sdxl").ours
    assert model.config.default_size == (1024, 1024)
    # The crop is worked at the model's native pixel count: 1024² would take a minute on the tiny model.
    monkeypatch.setattr(model, "config", dataclasses.replace(model.config, default_size=(128, 128)))
    image, mask = _inpaint_inputs()
    request = _request(
        mode="inpaint", steps=2, strength=0.7, init_image=image, mask=mask, inpaint_only_masked=True
    )
    result, ours = run_ours(model, request, monkeypatch)
    assert ours.shape[1] * ours.shape[2] == pytest.approx(128 * 128, rel=0.3)
    got = np.asarray(result.images[0].convert("RGB"))
    assert got.shape == image.shape and np.array_equal(got[mask == 0], image[mask == 0])


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_runs_on_sdxl(tiny, monkeypatch, sampler):
    schedule = "trailing" if sampler == "lcm" and "trailing" in SCHEDULES else "normal"
    request = _request(sampler=sampler, schedule=schedule, steps=2, width=32, height=32, batch_size=2)
    result, ours = run_ours(tiny("sdxl").ours, request, monkeypatch)
    assert len(result.images) == 2 and torch.isfinite(ours).all()


def test_emphasis_changes_both_towers(tiny):
    model = tiny("sdxl").ours
    with torch.inference_mode():
        (plain, pooled), _ = sdxl_conditioning.encode_sdxl_pair(model, "a red cube", "", False)
        (weighted, weighted_pooled), _ = sdxl_conditioning.encode_sdxl_pair(
            model, "a (red:1.5) cube", "", False
        )
    width = model.text_encoder.config.hidden_size
    assert not torch.allclose(plain[..., :width], weighted[..., :width])  # CLIP-L part
    assert not torch.allclose(plain[..., width:], weighted[..., width:])  # bigG part
    torch.testing.assert_close(pooled, weighted_pooled)  # emphasis weights the context, not the pooled vector
