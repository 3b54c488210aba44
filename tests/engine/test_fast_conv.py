"""FastConv2d: the CPU kernels it picks give nn.Conv2d's results, and everything else is nn.Conv2d itself."""

import pytest
import torch
from torch import nn

from ldm_studio.engine.nets import fast_conv
from ldm_studio.engine.nets.fast_conv import FastConv2d


def _pair(in_channels: int, out_channels: int, **options) -> tuple[nn.Conv2d, FastConv2d]:
    torch.manual_seed(0)
    reference = nn.Conv2d(in_channels, out_channels, 3, padding=1, **options)
    fast = FastConv2d(in_channels, out_channels, 3, padding=1, **options)
    fast.load_state_dict(reference.state_dict())
    return reference, fast


@pytest.mark.parametrize(
    ("threads", "channels", "side", "kernel"),
    [
        (1, 256, 32, fast_conv._winograd),  # a big layer: Winograd
        (2, 256, 32, None),  # ... but NNPACK hardly gains from a second thread, oneDNN doubles
        (2, 512, 64, fast_conv._winograd),  # the biggest layers keep it
        (1, 1024, 8, fast_conv._gemm),  # a small map with many channels: im2col + GEMM
        (2, 1024, 8, fast_conv._gemm),
        (1, 640, 16, None),  # at 16x16 oneDNN is the faster again
        (1, 64, 24, None),  # in between: torch's own
        (1, 32, 32, None),  # too little work for either
    ],
)
def test_each_layer_size_gets_its_kernel_and_the_same_result(torch_threads, threads, channels, side, kernel):
    torch_threads(threads)
    reference, fast = _pair(channels, channels if kernel is fast_conv._winograd else 32)
    x = torch.randn(2, channels, side, side)
    with torch.inference_mode():
        if kernel is fast_conv._winograd and not fast_conv.nnpack_ready():
            pytest.skip("this torch build has no NNPACK")
        assert fast._cpu_kernel(x) is kernel
        expected, got = reference(x), fast(x)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())


def test_state_dict_keys_and_shapes_are_those_of_nn_conv2d():
    reference, fast = _pair(8, 16)
    assert {k: v.shape for k, v in fast.state_dict().items()} == {
        k: v.shape for k, v in reference.state_dict().items()
    }


def test_training_half_precision_and_strides_use_the_ordinary_convolution():
    _, fast = _pair(8, 8)
    x = torch.randn(1, 8, 64, 64, requires_grad=True)
    assert fast._cpu_kernel(x) is None  # gradients flow through torch's own kernel
    fast(x).sum().backward()
    assert x.grad is not None
    with torch.inference_mode():
        assert fast._cpu_kernel(torch.randn(1, 8, 64, 64).half()) is None
        strided = FastConv2d(8, 8, 3, stride=2, padding=1)
        assert strided._cpu_kernel(torch.randn(1, 8, 64, 64)) is None


needs_nnpack = pytest.mark.skipif(not fast_conv.nnpack_ready(), reason="this torch build has no NNPACK")


@needs_nnpack
@pytest.mark.parametrize("height", [70, 64, 33])  # strips that do and do not divide the height
def test_winograd_in_strips_matches_the_whole_convolution(monkeypatch, torch_threads, height):
    torch_threads(1)
    # Small strips force many seams: a wrong halo row would change whole rows of the output.
    monkeypatch.setattr(fast_conv, "STRIP_ELEMENTS", 128 * 64 * 16)
    reference, fast = _pair(128, 48)
    x = torch.randn(2, 128, height, 64)
    with torch.inference_mode():
        assert fast.strip_wise(x)
        expected, got = reference(x), fast(x)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())


@needs_nnpack
def test_an_input_made_strip_by_strip_gives_the_convolution_of_the_whole_input(monkeypatch, torch_threads):
    torch_threads(1)
    monkeypatch.setattr(fast_conv, "STRIP_ELEMENTS", 128 * 48 * 32)
    reference, fast = _pair(128, 16)
    x = torch.randn(1, 128, 96, 48)
    asked = []

    def rows(i, low, high):
        asked.append((low, high))
        return x[i : i + 1, :, low:high] * 2.0

    with torch.inference_mode():
        got = fast.conv_rows(rows, x.shape)
        expected = reference(x * 2.0)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())
    assert max(high - low for low, high in asked) < 96  # never the whole input at once
