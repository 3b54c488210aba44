"""Variations: the start noise slerps from the seed's towards the variation seed's, per image."""

import pytest
import torch

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.metadata.a1111 import format_infotext, request_from_infotext
from ldm_studio.engine.requests import GenerationRequest
from ldm_studio.engine.sampling.noise import NoiseSource, slerp
from ldm_studio.engine.validation import check_limits
from tests.engine.test_seeds import models, run_tapped  # noqa: F401 (the fixture)

SHAPE = (4, 8, 8)


def _noise(seed: int) -> torch.Tensor:
    return torch.randn(SHAPE, generator=torch.Generator("cpu").manual_seed(seed))


def test_slerp_ends_at_both_noises_and_keeps_the_noise_scale_between():
    low, high = _noise(1), _noise(2)
    torch.testing.assert_close(slerp(0.0, low, high), low)
    torch.testing.assert_close(slerp(1.0, low, high), high)
    middle = slerp(0.5, low, high)
    linear = (low + high) / 2
    # Spherical, not linear: the halfway noise keeps unit variance where a plain blend shrinks it to ~0.5.
    assert abs(middle.std().item() - 1) < 0.15 and linear.std().item() < 0.85


def test_start_noise_of_a_variation_batch_steps_the_variation_seed_only():
    source = NoiseSource.for_batch(10, 3, variation_seed=500, variation_strength=0.3)
    assert source.seeds == [10, 10, 10]
    start = source.start_noise((3, *SHAPE))
    for i in range(3):
        torch.testing.assert_close(start[i], slerp(0.3, _noise(10), _noise(500 + i)))
    # Later draws (an ancestral sampler's) come from the main seed alone.
    again = NoiseSource.for_batch(10, 1)
    again.randn((1, *SHAPE))
    assert torch.equal(source.randn((3, *SHAPE))[2], again.randn((1, *SHAPE))[0])


def test_strength_zero_is_no_variation():
    plain = NoiseSource.for_batch(3, 2).start_noise((2, *SHAPE))
    varied = NoiseSource.for_batch(3, 2, variation_seed=9, variation_strength=0.0).start_noise((2, *SHAPE))
    assert torch.equal(plain, varied)


def test_strength_one_gives_the_variation_seeds_image(models, monkeypatch):  # noqa: F811
    request = GenerationRequest(prompt="a cube", steps=3, width=64, height=64, seed=1, sampler="euler")
    _, varied = run_tapped(
        models("sd1"), request.replace(variation_seed=77, variation_strength=1.0), monkeypatch
    )
    _, other = run_tapped(models("sd1"), request.replace(seed=77), monkeypatch)
    _, plain = run_tapped(models("sd1"), request, monkeypatch)
    torch.testing.assert_close(varied, other, atol=1e-5, rtol=0)
    assert not torch.allclose(varied, plain, atol=1e-3)


def test_each_image_of_a_variation_batch_is_made_again_alone(models, monkeypatch):  # noqa: F811
    request = GenerationRequest(
        prompt="a cube", steps=3, width=64, height=64, seed=5, sampler="euler_a",
        variation_seed=40, variation_strength=0.25, batch_size=3,
    )  # fmt: skip
    batch, latents = run_tapped(models("sd1"), request, monkeypatch)
    assert batch.seeds == [5, 5, 5]
    for i in range(3):
        single = request.for_image(i)
        assert (single.seed, single.variation_seed, single.batch_size) == (5, 40 + i, 1)
        alone, latent = run_tapped(models("sd1"), single, monkeypatch)
        torch.testing.assert_close(latents[i : i + 1], latent, atol=1e-6, rtol=0)
        assert f"Variation seed: {40 + i}, Variation seed strength: 0.25" in batch.infotexts[i]
        assert alone.infotexts[0] == batch.infotexts[i]


def test_variation_infotext_reads_back():
    request = GenerationRequest(prompt="a cat", seed=3, variation_seed=123456789012, variation_strength=0.3)
    text = format_infotext(request, seed=3)
    assert "Seed: 3, Size: 512x512, Variation seed: 123456789012, Variation seed strength: 0.3" in text
    back = request_from_infotext(text)
    assert (back.variation_seed, back.variation_strength) == (123456789012, 0.3)
    assert "Variation" not in format_infotext(request.replace(variation_strength=0.0), seed=3)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"variation_seed": -1, "variation_strength": 0.5}, "variation seed must be between 0"),
        ({"variation_seed": 1, "variation_strength": 1.5}, "variation strength must be between 0 and 1"),
        ({"variation_seed": 1, "variation_strength": float("nan")}, "variation strength must be between"),
    ],
)
def test_bad_variation_values_are_refused(changes, message):
    with pytest.raises(InputError, match=message):
        check_limits(GenerationRequest(**changes))
