"""Live previews: cheap, the right size and colours, and fittable for autoencoders without a published map."""

import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ldm_studio.engine.pipelines.previews import (
    LATENT_RGB_KL_F4,
    LATENT_RGB_KL_F8,
    fit_latent_rgb_map,
    latent_to_rgb,
)


def test_preview_is_the_first_batch_item_at_latent_size_as_uint8():
    latents = torch.zeros(2, 4, 6, 10)
    latents[1] = 5.0  # the second item would be saturated; the preview must show the first
    rgb = latent_to_rgb(latents, LATENT_RGB_KL_F8)
    assert rgb.shape == (6, 10, 3) and rgb.dtype == np.uint8
    assert (rgb == 128).all()  # a zero latent is mid-grey
    assert latent_to_rgb(latents[0], LATENT_RGB_KL_F8).shape == (6, 10, 3)


def test_preview_clamps_to_the_full_range_and_follows_the_published_map():
    latent = torch.zeros(4, 2, 2)
    latent[3] = 10.0  # channel 4 of KL-f8 is strongly negative in every colour: black
    latent[3, 0, 0] = -10.0  # and its negation is white
    rgb = latent_to_rgb(latent, LATENT_RGB_KL_F8)
    assert rgb[0, 0].tolist() == [255, 255, 255]
    assert rgb[1, 1].tolist() == [0, 0, 0]
    # Channel 1 alone, small enough not to clip: (x·m + 1) / 2 · 255.
    one = torch.zeros(4, 1, 1)
    one[0] = 1.0
    expected = [round((m + 1) * 127.5) for m in LATENT_RGB_KL_F8[0]]
    assert latent_to_rgb(one, LATENT_RGB_KL_F8)[0, 0].tolist() == expected
    assert latent_to_rgb(one, LATENT_RGB_KL_F4)[0, 0].tolist() == [
        round((m + 1) * 127.5) for m in LATENT_RGB_KL_F4[0]
    ]


def test_bias_shifts_the_colours():
    rgb = latent_to_rgb(torch.zeros(4, 1, 1), LATENT_RGB_KL_F8, bias=[1.0, -1.0, 0.0])
    assert rgb[0, 0].tolist() == [255, 0, 128]


def test_a_map_for_the_wrong_channel_count_is_refused():
    with pytest.raises(ValueError, match="3-channel latent"):
        latent_to_rgb(torch.zeros(3, 4, 4), LATENT_RGB_KL_F8)


def test_fit_recovers_the_map_of_a_linear_decoder():
    generator = torch.Generator().manual_seed(0)
    true_matrix = torch.randn(4, 3, generator=generator) * 0.3
    true_bias = torch.tensor([0.1, -0.2, 0.05])

    def decode(latents):
        rgb = torch.einsum("bchw,cr->brhw", latents, true_matrix) + true_bias[None, :, None, None]
        return F.interpolate(rgb, scale_factor=8, mode="nearest")

    latents = torch.randn(3, 4, 8, 8, generator=generator)
    matrix, bias = fit_latent_rgb_map(decode, latents, downscale=8)
    assert torch.allclose(matrix, true_matrix, atol=1e-4)
    assert torch.allclose(bias, true_bias, atol=1e-4)
    # The preview made with the fitted map matches what the decoder would show, at latent size.
    preview = latent_to_rgb(latents, matrix, bias).astype(int)
    decoded = F.avg_pool2d(decode(latents[:1]), 8)[0].permute(1, 2, 0)
    expected = ((decoded.clamp(-1, 1) + 1) * 127.5).round().int().numpy()
    assert np.abs(preview - expected).max() <= 1


def test_fit_refuses_a_decoder_of_the_wrong_scale():
    with pytest.raises(ValueError, match="not 8"):
        fit_latent_rgb_map(lambda z: torch.zeros(1, 3, 16, 16), torch.zeros(1, 4, 4, 4), downscale=8)


def test_preview_of_a_512px_latent_costs_well_under_a_step():
    latents = torch.randn(1, 4, 64, 64)
    latent_to_rgb(latents, LATENT_RGB_KL_F8)  # warm-up
    timings = []
    for _ in range(30):
        start = time.perf_counter()
        latent_to_rgb(latents, LATENT_RGB_KL_F8)
        timings.append(time.perf_counter() - start)
    median = sorted(timings)[len(timings) // 2]
    print(f"latent_to_rgb on 1x4x64x64: median {median * 1e3:.3f} ms")
    # A CFG UNet step at 512² takes seconds on CPU and ~50 ms on a GPU; 3% of the GPU step is 1.5 ms.
    assert median < 0.02
