"""3x3 convolutions on the CPU through the fastest of torch's three kernels for the feature-map size.

Nearly all of a CPU image's time goes into 3x3 convolutions, and torch's default for them on x86
(oneDNN's direct convolution) is the best choice only for small layers. Measured on the benchmark
machine (AVX2, fp32; docs/PERFORMANCE.md):
- big feature maps with enough channels (SD's VAE decoder, the UNet's outer levels; at least 32x32
  pixels and in_channels x pixels >= 2**18): NNPACK's Winograd convolution, which needs ~2.5x fewer
  multiplications, is 1.3-2.4x faster on one thread. Its fast path is a single-image call, so a batch
  goes through one image at a time. Smaller layers (test-sized models) lose to oneDNN that way.
  NNPACK hardly gains from a second thread where oneDNN doubles (a 512-channel 32x32 layer: 17 -> 19 ms
  against oneDNN's 23 -> 11), so with more threads only layers of 512+ channels (and as many out) at
  64x64 or more keep it: the SD VAE decoder's two upper levels, where it is 1.2-1.4x faster alone and
  about even inside a whole decode (256-channel layers lost there: 2.49 against 2.10 s at 256²).
- 8x8 pixels or fewer with 1024+ input channels (the UNet's inner levels, 1280 channels at 8x8, 4x4):
  oneDNN reaches a fraction of the CPU's peak there; im2col + one big GEMM is 1.1-2.7x faster. (At
  16x16, and with 640 channels at 8x8, oneDNN is the faster one again: 21 against 41 ms at 640.)
Layout: NNPACK wants NCHW, oneDNN is fastest and leanest in NHWC, so with two or more threads (where
the VAE's big layers are oneDNN's) the VAE runs NHWC (`cpu_layout`); the Winograd path reads and writes
either layout strip by strip.
Results differ from oneDNN's by ~1e-5 relative (the kernels round differently), far inside the parity
tests' tolerances.

`FastConv2d` is an `nn.Conv2d` (same parameters, same state-dict keys) that takes these paths only for
CPU float32 inference; anything else - a GPU, half precision, training with gradients, strides, a torch
build without NNPACK - runs the ordinary convolution.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn

WINOGRAD_MIN_PIXELS = 32 * 32
WINOGRAD_MIN_WORK = 2**18  # in_channels x pixels of one image
THREADED_WINOGRAD_MIN_PIXELS = 64 * 64  # with two or more torch threads
THREADED_WINOGRAD_MIN_CHANNELS = 512  # and no fewer out than in channels
STRIP_ELEMENTS = 2**21  # in_channels x rows x width of one NNPACK call (8 MiB of input)
MIN_STRIP_ROWS = 16  # each strip recomputes two halo rows
GEMM_MAX_PIXELS = 8 * 8
GEMM_MIN_CHANNELS = 1024


@functools.cache
def nnpack_ready() -> bool:
    """NNPACK is compiled in and supports this CPU (asking also initialises it, which it needs)."""
    try:
        return bool(torch._nnpack_available())
    except (AttributeError, RuntimeError):
        return False


InputRows = Callable[[int, int, int], torch.Tensor]  # (image, first row, end row) -> [1, C, rows, W]


def layout_of(x: torch.Tensor) -> torch.memory_format:
    """The memory format `x` is laid out in: channels_last (NHWC) or the plain contiguous one."""
    nhwc = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    return torch.channels_last if nhwc else torch.contiguous_format


def cpu_layout(x: torch.Tensor) -> torch.memory_format:
    """The memory format the VAE should run `x` in: NHWC on the CPU with two or more threads.

    That is where its big layers run on oneDNN (above), and oneDNN computes NHWC natively: fed NCHW it
    reorders input and output through its blocked layout, which for SD's 256-channel 256² decoder layer
    took twice the output's memory (+137 against +67 MiB) and 15-20 % longer. With one thread those
    layers run on NNPACK, which wants NCHW. Elsewhere (GPUs, and training, where a channels_last
    backward with the SR trainer's gradient hooks crashed torch 2.13) the layout is left as it comes."""
    if (
        x.device.type == "cpu"
        and x.dim() == 4
        and torch.get_num_threads() > 1
        and not torch.is_grad_enabled()
    ):
        return torch.channels_last
    return layout_of(x)


def _winograd(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    # Each strip is made contiguous on its own (a slice of rows is not), so no whole NCHW copy of x.
    return winograd_rows(lambda i, low, high: x[i : i + 1, :, low:high], x.shape, weight, bias, layout_of(x))


def winograd_rows(
    input_rows: InputRows,
    shape: torch.Size | tuple,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    layout: torch.memory_format = torch.contiguous_format,
) -> torch.Tensor:
    """The 3x3 convolution of an input of `shape` that is only ever made strip by strip.

    One image and one strip of rows at a time, each with a row of its neighbours above and below.
    torch keeps NNPACK's workspace (transformed tiles of a whole call) allocated at the largest size any
    call needed: a 128-channel 256² layer left 119 MiB behind. Strips of STRIP_ELEMENTS bound it to
    ~35 MiB at the same speed, and the output is written in place instead of concatenated. Callers that
    build the input per strip (GroupNorm + SiLU, nearest upsampling) never hold the whole of it."""
    n, channels, height, width = shape
    rows = max(MIN_STRIP_ROWS, STRIP_ELEMENTS // (channels * width))
    if n == 1 and rows >= height and layout == torch.contiguous_format:  # one call: no strips to gather
        whole = input_rows(0, 0, height).contiguous()
        return torch._nnpack_spatial_convolution(whole, weight, bias, (1, 1), (1, 1))
    out = torch.empty((n, weight.shape[0], height, width), dtype=weight.dtype, memory_format=layout)
    for i in range(n):
        for top in range(0, height, rows):
            bottom = min(height, top + rows)
            low, high = max(0, top - 1), min(height, bottom + 1)  # the halo rows the 3x3 kernel reads
            strip = input_rows(i, low, high).contiguous()
            strip = torch._nnpack_spatial_convolution(strip, weight, bias, (1, 1), (1, 1))
            out[i : i + 1, :, top:bottom] = strip[:, :, top - low : bottom - low]
    return out


def _gemm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.ops.aten._slow_conv2d_forward(x, weight, (3, 3), bias, (1, 1), (1, 1))


class FastConv2d(nn.Conv2d):
    def _cpu_kernel(self, x: torch.Tensor, height: int | None = None, width: int | None = None):
        """The faster kernel for this input (or one like it of `height` x `width`), or None for torch's."""
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
        pixels = (height or x.shape[-2]) * (width or x.shape[-1])
        if self._winograd_pays(pixels) and nnpack_ready():
            return _winograd
        if pixels <= GEMM_MAX_PIXELS and self.in_channels >= GEMM_MIN_CHANNELS:
            return _gemm
        return None

    def _winograd_pays(self, pixels: int) -> bool:
        if pixels < WINOGRAD_MIN_PIXELS or self.in_channels * pixels < WINOGRAD_MIN_WORK:
            return False
        if torch.get_num_threads() == 1:
            return True
        return (
            pixels >= THREADED_WINOGRAD_MIN_PIXELS
            and self.out_channels >= self.in_channels >= THREADED_WINOGRAD_MIN_CHANNELS
        )

    def strip_wise(self, x: torch.Tensor, height: int | None = None, width: int | None = None) -> bool:
        """Whether an input like `x` (of `height` x `width`) takes the strip-wise Winograd path, so a caller
        may hand it over strip by strip through `conv_rows`."""
        return self._cpu_kernel(x, height, width) is _winograd

    def conv_rows(
        self,
        input_rows: InputRows,
        shape: torch.Size | tuple,
        layout: torch.memory_format = torch.contiguous_format,
    ) -> torch.Tensor:
        return winograd_rows(input_rows, shape, self.weight, self.bias, layout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = self._cpu_kernel(x)
        if kernel is None:
            return super().forward(x)
        return kernel(x, self.weight, self.bias)
