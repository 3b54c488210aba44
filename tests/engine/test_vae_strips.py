"""The decoder's strip-wise CPU path (GroupNorm + SiLU and nearest upsampling made per strip of rows,
fed straight to the Winograd convolution) gives the same images as whole tensors through torch's conv."""

import pytest
import torch

from ldm_studio.engine.nets import fast_conv
from ldm_studio.engine.nets.autoencoder import Autoencoder
from ldm_studio.engine.nets.configs import AutoencoderConfig


@pytest.mark.skipif(not fast_conv.nnpack_ready(), reason="this torch build has no NNPACK")
def test_strip_wise_decode_and_encode_match_the_plain_path(monkeypatch, torch_threads):
    torch_threads(1)  # every big layer on Winograd
    torch.manual_seed(0)
    model = Autoencoder(AutoencoderConfig(ch=64, ch_mult=(1, 2, 2), num_res_blocks=1, resolution=128)).eval()
    latents, images = torch.randn(2, 4, 30, 36), torch.rand(1, 3, 120, 144) * 2 - 1
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
