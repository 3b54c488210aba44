"""Encoder and decoder of the first-stage autoencoders (CompVis `ldm.modules.diffusionmodules.model`).

Key names follow the checkpoints: `conv_in`, `down.N.{block.M, attn.M, downsample}`,
`mid.{block_1, attn_1, block_2}`, `up.N.{block.M, attn.M, upsample}`, `norm_out`, `conv_out`.
All GroupNorms here use eps 1e-6.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ldm_studio.engine.nets.attention import head_attention
from ldm_studio.engine.nets.configs import AutoencoderConfig
from ldm_studio.engine.nets.fast_conv import FastConv2d, cpu_layout, layout_of


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(32, channels, eps=1e-6)


def norm_silu(norm: nn.GroupNorm, x: torch.Tensor) -> torch.Tensor:
    """SiLU(GroupNorm(x)), in place on the norm's output when no gradient is recorded: at the decoder's
    full resolution each such tensor is tens of MiB (67 MiB for SD's 256-channel 256² layer)."""
    return F.silu(norm(x), inplace=not torch.is_grad_enabled())


_CHUNK = 1 << 18  # elements per temporary of group_var_mean: 1 MiB of fp32, small enough to stay in cache


def group_var_mean(x: torch.Tensor, groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """GroupNorm's per-(image, group) variance and mean, [N, groups] each, read in x's own layout.

    Two passes, the mean and then the squares about it a chunk at a time: as exact as GroupNorm's own
    statistics and no full-size temporary. torch.var_mean's Welford reduction is 4-10x slower on the CPU
    (107 ms for SD's 256-channel 256² layer at one thread, 13 ms this way).
    """
    n, channels = x.shape[:2]
    if layout_of(x) == torch.channels_last:
        # NHWC: per-channel sums over the pixels of a [N, H·W, C] view, then each group's channels added.
        pixels = x.permute(0, 2, 3, 1).reshape(n, -1, channels)
        per_group = channels // groups
        count = pixels.shape[1] * per_group
        mean = pixels.sum(1).reshape(n, groups, per_group).sum(-1) / count
        centre = mean.repeat_interleave(per_group, 1)[:, None, :]
        chunks = pixels.split(max(1, _CHUNK // channels), dim=1)
        squares = sum((chunk - centre).square_().sum(1) for chunk in chunks)
        return squares.reshape(n, groups, per_group).sum(-1) / count, mean
    grouped = x.reshape(n, groups, -1)
    count = grouped.shape[-1]
    mean = grouped.sum(-1) / count
    chunks = grouped.split(max(1, _CHUNK // groups), dim=-1)
    squares = sum((chunk - mean[..., None]).square_().sum(-1) for chunk in chunks)
    return squares / count, mean


def norm_silu_conv(norm: nn.GroupNorm, conv: FastConv2d, x: torch.Tensor) -> torch.Tensor:
    """conv(SiLU(GroupNorm(x))). On the CPU's Winograd path the normalised input is only made strip by
    strip (GroupNorm needs just its per-group mean and variance first), so the decoder's peak at full
    resolution holds two of these big tensors instead of three."""
    if not conv.strip_wise(x):
        return conv(norm_silu(norm, x))
    per_group = x.shape[1] // norm.num_groups
    var, mean = (s.repeat_interleave(per_group, 1) for s in group_var_mean(x, norm.num_groups))  # [n, C]
    layout = layout_of(x)
    if layout == torch.contiguous_format:
        # With the group statistics as per-channel ones, an NCHW strip's GroupNorm is an inference-mode
        # batch norm, whose fused kernel is twice as fast as addcmul's broadcast (1.1 against 2.2 ms per
        # 8 MiB strip at one thread). Strips of one image, so the statistics are that image's.
        def normed(i: int, low: int, high: int) -> torch.Tensor:
            strip = x[i : i + 1, :, low:high]
            return F.batch_norm(strip, mean[i], var[i], norm.weight, norm.bias, False, 0.0, norm.eps)

    else:  # NHWC: addcmul is the faster there (1.0 against 1.2 ms)
        scale = (var + norm.eps).rsqrt() * norm.weight
        shift = (norm.bias - mean * scale)[..., None, None]
        scale = scale[..., None, None]

        def normed(i: int, low: int, high: int) -> torch.Tensor:
            return torch.addcmul(shift[i : i + 1], x[i : i + 1, :, low:high], scale[i : i + 1])

    return conv.conv_rows(lambda i, low, high: F.silu(normed(i, low, high), inplace=True), x.shape, layout)


class ResnetBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.norm1 = _norm(in_channels)
        self.conv1 = FastConv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = _norm(out_channels)
        self.conv2 = FastConv2d(out_channels, out_channels, 3, padding=1)
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # One expression, so conv1's output is freed as soon as conv2 has read it.
        h = norm_silu_conv(self.norm2, self.conv2, norm_silu_conv(self.norm1, self.conv1, x))
        shortcut = self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x
        return h.add_(shortcut)  # conv's backward does not need its output, so this is safe with grads


class Downsample(nn.Module):
    """Stride-2 conv after padding right and bottom only (the original's asymmetric padding)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = FastConv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, channels, height, width = x.shape
        if not self.conv.strip_wise(x, 2 * height, 2 * width):
            return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))

        def rows(i: int, low: int, high: int) -> torch.Tensor:  # the 4x larger input, a strip at a time
            first = low // 2
            up = F.interpolate(x[i : i + 1, :, first : (high + 1) // 2], scale_factor=2.0, mode="nearest")
            return up[:, :, low - 2 * first : high - 2 * first]

        return self.conv.conv_rows(rows, (n, channels, 2 * height, 2 * width), layout_of(x))


def conv_weights_from_linear(module: nn.Module, state_dict: dict, prefix: str, *_args) -> None:
    """Load-time hook: accept q/k/v/proj_out weights stored as 2-D Linear matrices [C, C].

    Some VAE files (converted back from diffusers, where these are Linear layers) store them that way;
    a 1x1 conv computes the same map, so the matrix only needs two trailing unit axes.
    """
    for name in ("q", "k", "v", "proj_out"):
        key = f"{prefix}{name}.weight"
        weight = state_dict.get(key)
        if weight is not None and weight.ndim == 2:
            state_dict[key] = weight[:, :, None, None]


class AttnBlock(nn.Module):
    """Single-head self-attention over all pixels, with 1x1 conv projections; adds its input."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = _norm(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)
        self.register_load_state_dict_pre_hook(conv_weights_from_linear)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        h = self.norm(x)

        # Tokens with the channels innermost (free when x is NHWC, one copy otherwise): SDPA's fused
        # kernels need the last axis contiguous. Given transposed views it took the math path, which
        # materialises the [H·W, H·W] attention matrix (64 MiB at SD's 64² latents) and is slower.
        def tokens(t: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, 1, H*W, C]
            return t.permute(0, 2, 3, 1).reshape(batch, 1, height * width, channels).contiguous()

        out = head_attention(tokens(self.q(h)), tokens(self.k(h)), tokens(self.v(h)))
        out = out.reshape(batch, height, width, channels).permute(0, 3, 1, 2)
        return x + self.proj_out(out.contiguous(memory_format=layout_of(x)))


def _attention(channels: int, config: AutoencoderConfig) -> nn.Module:
    # attn_type "none" (LDM inpainting's VQ-f4) has no attention weights at all.
    return AttnBlock(channels) if config.attn_type == "vanilla" else nn.Identity()


class MidBlock(nn.Module):
    def __init__(self, channels: int, config: AutoencoderConfig):
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels)
        self.attn_1 = _attention(channels, config)
        self.block_2 = ResnetBlock(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(x)))


class Level(nn.Module):
    """One resolution level: res blocks (each followed by attention where the level has it), then an
    optional resample (`downsample` in the encoder, `upsample` in the decoder)."""

    def __init__(
        self, channels: list[tuple[int, int]], attention: bool, config: AutoencoderConfig, resample: str = ""
    ):
        super().__init__()
        self.block = nn.ModuleList(ResnetBlock(cin, cout) for cin, cout in channels)
        self.attn = (
            nn.ModuleList(_attention(cout, config) for _, cout in channels) if attention else nn.ModuleList()
        )
        out_channels = channels[-1][1]
        self.downsample = Downsample(out_channels) if resample == "down" else None
        self.upsample = Upsample(out_channels) if resample == "up" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.block):
            x = block(x)
            if self.attn:
                x = self.attn[i](x)
        if self.downsample is not None:
            x = self.downsample(x)
        if self.upsample is not None:
            x = self.upsample(x)
        return x


class Encoder(nn.Module):
    def __init__(self, config: AutoencoderConfig):
        super().__init__()
        ch, mults = config.ch, config.ch_mult
        self.conv_in = FastConv2d(config.in_channels, ch, 3, padding=1)
        self.down = nn.ModuleList()
        resolution, block_in = config.resolution, ch
        for i, mult in enumerate(mults):
            block_out = ch * mult
            pairs = [(block_in if j == 0 else block_out, block_out) for j in range(config.num_res_blocks)]
            last = i == len(mults) - 1
            self.down.append(
                Level(pairs, resolution in config.attn_resolutions, config, "" if last else "down")
            )
            block_in = block_out
            resolution = resolution if last else resolution // 2
        self.mid = MidBlock(block_in, config)
        self.norm_out = _norm(block_in)
        z_out = 2 * config.z_channels if config.double_z else config.z_channels
        self.conv_out = FastConv2d(block_in, z_out, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x.contiguous(memory_format=cpu_layout(x)))
        for level in self.down:
            h = level(h)
        h = self.mid(h)
        return norm_silu_conv(self.norm_out, self.conv_out, h)


class Decoder(nn.Module):
    def __init__(self, config: AutoencoderConfig):
        super().__init__()
        ch, mults = config.ch, config.ch_mult
        block_in = ch * mults[-1]
        resolution = config.resolution // 2 ** (len(mults) - 1)
        self.conv_in = FastConv2d(config.z_channels, block_in, 3, padding=1)
        self.mid = MidBlock(block_in, config)
        levels = []
        for i in reversed(range(len(mults))):
            block_out = ch * mults[i]
            pairs = [(block_in if j == 0 else block_out, block_out) for j in range(config.num_res_blocks + 1)]
            levels.insert(0, Level(pairs, resolution in config.attn_resolutions, config, "up" if i else ""))
            block_in = block_out
            resolution = resolution * 2 if i else resolution
        # Stored lowest level first (`up.0` is the full-resolution level) but run from the top.
        self.up = nn.ModuleList(levels)
        self.norm_out = _norm(block_in)
        self.conv_out = FastConv2d(block_in, config.out_ch, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z.contiguous(memory_format=cpu_layout(z))
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            h = level(h)
        return norm_silu_conv(self.norm_out, self.conv_out, h)
