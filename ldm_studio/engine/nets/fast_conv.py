"""3x3 convolutions on the CPU through the fastest of torch's three kernels for the feature-map size.

Nearly all of a CPU image's time goes into 3x3 convolutions, and torch's default for them on x86
(oneDNN's direct convolution) is the best choice only for small layers. Measured on the benchmark
machine (AVX2, fp32; docs/PERFORMANCE.md):
- big feature maps with enough channels (SD's VAE decoder, the UNet's outer levels; at least 32x32
  pixels and in_channels x pixels >= 2**18): NNPACK's Winograd convolution, which needs ~2.5x fewer
  multiplications, is 1.5-3x faster. Its fast path is a single-image call, so a batch goes through one
  image at a time. Smaller layers (test-sized models) lose to oneDNN that way.
- 16x16 pixels or fewer with 512+ input channels (the UNet's inner levels, 1280 channels at 8x8, 4x4):
  oneDNN reaches a fraction of the CPU's peak there; im2col + one big GEMM is 1.2-3x faster.
Results differ from oneDNN's by ~1e-5 relative (the kernels round differently), far inside the parity
tests' tolerances.

`FastConv2d` is an `nn.Conv2d` (same parameters, same state-dict keys) that takes these paths only for
CPU float32 inference; anything else - a GPU, half precision, training with gradients, strides, a torch
build without NNPACK - runs the ordinary convolution.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

WINOGRAD_MIN_PIXELS = 32 * 32
WINOGRAD_MIN_WORK = 2**18  # in_channels x pixels of one image
GEMM_MAX_PIXELS = 16 * 16
GEMM_MIN_CHANNELS = 512


@functools.cache
def nnpack_ready() -> bool:
    """NNPACK is compiled in and supports this CPU (asking also initialises it, which it needs)."""
    try:
        return bool(torch._nnpack_available())
    except (AttributeError, RuntimeError):
        return False


def _winograd(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    x = x.contiguous()
    images = [
        torch._nnpack_spatial_convolution(x[i : i + 1], weight, bias, (1, 1), (1, 1)) for i in range(len(x))
    ]
    return images[0] if len(images) == 1 else torch.cat(images)


def _gemm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.ops.aten._slow_conv2d_forward(x, weight, (3, 3), bias, (1, 1), (1, 1))


class FastConv2d(nn.Conv2d):
    def _cpu_kernel(self, x: torch.Tensor):
        """The faster kernel for this input, or None for torch's default."""
        plain_3x3 = (
            self.kernel_size == (3, 3)
            and self.stride == (1, 1)
            and self.padding == (1, 1)
            and self.dilation == (1, 1)
            and self.groups == 1
            and self.padding_mode == "zeros"
        )
        if not (
            plain_3x3
            and x.device.type == "cpu"
            and x.dtype == self.weight.dtype == torch.float32
            and x.dim() == 4
            and not (torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad))
        ):
            return None
        pixels = x.shape[-1] * x.shape[-2]
        if (
            pixels >= WINOGRAD_MIN_PIXELS
            and self.in_channels * pixels >= WINOGRAD_MIN_WORK
            and nnpack_ready()
        ):
            return _winograd
        if pixels <= GEMM_MAX_PIXELS and self.in_channels >= GEMM_MIN_CHANNELS:
            return _gemm
        return None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = self._cpu_kernel(x)
        if kernel is None:
            return super().forward(x)
        return kernel(x, self.weight, self.bias)
