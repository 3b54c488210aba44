"""The decoder's strip-wise CPU path (GroupNorm + SiLU and nearest upsampling made per strip of rows,
fed straight to the Winograd convolution) gives the same images as whole tensors through torch's conv."""

import pytest
import torch

from ldm_studio.engine.nets import fast_conv, vae_blocks
from ldm_studio.engine.nets.autoencoder import Autoencoder
from ldm_studio.engine.nets.configs import AutoencoderConfig


def _small_vae_and_inputs() -> tuple[Autoencoder, torch.Tensor, torch.Tensor]:
    """A 64-channel VAE and odd-sized latents (batch 2) and images, so strips and seams are uneven."""
    torch.manual_seed(0)
    model = Autoencoder(AutoencoderConfig(ch=64, ch_mult=(1, 2, 2), num_res_blocks=1, resolution=128)).eval()
    return model, torch.randn(2, 4, 30, 36), torch.rand(1, 3, 120, 144) * 2 - 1


@pytest.mark.skipif(not fast_conv.nnpack_ready(), reason="this torch build has no NNPACK")
def test_strip_wise_decode_and_encode_match_the_plain_path(monkeypatch, torch_threads):
    torch_threads(1)  # every big layer on Winograd
    model, latents, images = _small_vae_and_inputs()
    with torch.inference_mode():
        monkeypatch.setattr(fast_conv, "nnpack_ready", lambda: False)
        expected = model.decode(latents), model.encode(images)
        monkeypatch.undo()
        monkeypatch.setattr(fast_conv, "STRIP_ELEMENTS", 2**14)  # many strips, odd seams
        full_size = torch.randn(1, 64, 120, 144)
        assert model.decoder.up[0].block[0].conv1.strip_wise(full_size)
        got = model.decode(latents), model.encode(images)
    for e, g in zip(expected, got, strict=True):
        assert torch.allclose(g, e, rtol=1e-4, atol=1e-4 * e.abs().max().item())


def test_training_keeps_the_autograd_path():
    torch.manual_seed(0)
    model = Autoencoder(AutoencoderConfig(ch=64, ch_mult=(1, 2), num_res_blocks=1, resolution=64))
    latents = torch.randn(1, 4, 32, 32, requires_grad=True)
    model.decode(latents).square().mean().backward()  # in-place ops would break this backward
    assert latents.grad is not None and torch.isfinite(latents.grad).all()


@pytest.mark.skipif(not fast_conv.nnpack_ready(), reason="this torch build has no NNPACK")
def test_with_threads_the_vae_runs_nhwc_and_gives_the_same_images(monkeypatch, torch_threads):
    torch_threads(2)
    model, latents, images = _small_vae_and_inputs()
    seen = []
    model.decoder.conv_in.register_forward_pre_hook(
        lambda _m, args: seen.append(fast_conv.layout_of(args[0]))
    )
    with torch.inference_mode():
        monkeypatch.setattr(fast_conv, "nnpack_ready", lambda: False)
        monkeypatch.setattr(vae_blocks, "cpu_layout", fast_conv.layout_of)  # NCHW, torch's own conv
        expected = model.decode(latents), model.encode(images)
        monkeypatch.undo()
        # The strip-wise Winograd path too, fed NHWC, writing NHWC.
        monkeypatch.setattr(fast_conv, "THREADED_WINOGRAD_MIN_CHANNELS", 64)
        monkeypatch.setattr(fast_conv, "THREADED_WINOGRAD_MIN_PIXELS", 32 * 32)
        monkeypatch.setattr(fast_conv, "STRIP_ELEMENTS", 2**14)
        assert model.decoder.up[1].block[0].conv1.strip_wise(torch.randn(1, 128, 60, 72))
        got = model.decode(latents), model.encode(images)
    assert seen == [torch.contiguous_format, torch.channels_last]
    for e, g in zip(expected, got, strict=True):
        assert torch.allclose(g, e, rtol=1e-4, atol=1e-4 * e.abs().max().item())


def test_one_thread_and_training_keep_nchw(torch_threads):
    x = torch.randn(1, 4, 8, 8)
    torch_threads(1)
    with torch.inference_mode():
        assert fast_conv.cpu_layout(x) == torch.contiguous_format  # NNPACK's
    torch_threads(2)
    with torch.inference_mode():
        assert fast_conv.cpu_layout(x) == torch.channels_last
    assert fast_conv.cpu_layout(x) == torch.contiguous_format  # with gradients: as it comes


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_group_statistics_match_float64_in_both_layouts(layout):
    # 64 channels in 32 groups at 128²: two channels a group and several chunks summed per group; a large
    # offset, as deep decoder layers have, is where a one-pass E[x²] - E[x]² would lose digits.
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 64, 128, 128, generator=generator) * 3 + 40
    x[1] *= 0.01  # a second image of another scale: statistics are per image
    reference_var, reference_mean = torch.var_mean(x.double().reshape(2, 32, -1), dim=-1, correction=0)
    var, mean = vae_blocks.group_var_mean(x.contiguous(memory_format=layout), 32)
    assert var.shape == mean.shape == (2, 32)
    torch.testing.assert_close(mean.double(), reference_mean, rtol=1e-6, atol=0)
    torch.testing.assert_close(var.double(), reference_var, rtol=2e-6, atol=0)
