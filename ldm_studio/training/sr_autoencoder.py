"""The upscaler's own autoencoder, started from weights that already upsample: training only sharpens.

A ×4 latent upscaler's output is a decode, so its PSNR is bounded by its decoder. Trained from random
weights on a 2-core CPU the demo decoder reached 30-32 dB on 512² images, below bicubic's 37 dB, and two
things held it back: flat colours came out shifted, because GroupNorm's statistics on a training crop
are not those of a whole image, and edges had to be learned from nothing.

So this autoencoder starts as an exact, content-independent identity path, in the original architecture:
- the encoder is a 4× box filter: latent channels 0-2 are the low-res image in [-1, 1], channel 3 is 0
  (so the UNet's latent is the low-res image it is conditioned on, plus what it adds);
- the decoder is nearest-neighbour ×4 upsampling: every ResnetBlock's last conv starts at zero (the
  block is its skip connection), upsample convs copy, conv_in/conv_out route the colour channels;
- GroupNorm is made harmless to that path: each colour channel v travels in its own group as (v, -v, C)
  with a large constant C. Such a group's mean is exactly C/3 and its spread is C·√2/3 up to a part in
  10⁴, whatever the image, so the norm is a fixed affine map that its weight and bias undo, and SiLU is
  kept in its linear range by a +15 offset. The norms inside the residual branches see the same nearly
  constant statistics, so a crop normalises like the whole image and training on crops transfers.
Training (decoder only) then learns the interpolation and sharp edges in the residual branches, and only
there: the routing convs read the raw constant channels (C = 100), where an optimiser step of 1e-4 on a
zero weight would add 0.01 to a colour, so they stay fixed (`trainable_parameters`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ldm_studio.engine.nets.autoencoder import Autoencoder
from ldm_studio.engine.nets.configs import AutoencoderConfig
from ldm_studio.engine.nets.vae_blocks import Decoder, Encoder, ResnetBlock

CONSTANT = 100.0  # the constant channel of each group; ≫ |v| ≤ 1
SILU_OFFSET = 15.0  # silu(v + 15) = v + 15 to within 1e-5 for |v| ≤ 1
SPREAD = CONSTANT * math.sqrt(2) / 3  # std of a (v, -v, C) group over an image when |v| ≪ C
FACTOR = 4
COLOUR_CHANNELS = (0, 3, 6)  # the v channel of the R, G and B groups


def _resnet_blocks(net: nn.Module) -> list[ResnetBlock]:
    return [m for m in net.modules() if isinstance(m, ResnetBlock)]


def _zero(module: nn.Module) -> None:
    for p in module.parameters():
        p.zero_()


def _route_in(conv: nn.Conv2d, sources: list[int]) -> None:
    """conv (centre tap) puts source channel k into group k as (v, -v, CONSTANT); every other output 0."""
    _zero(conv)
    centre = conv.kernel_size[0] // 2
    for group, source in enumerate(sources):
        conv.weight[3 * group, source, centre, centre] = 1.0
        conv.weight[3 * group + 1, source, centre, centre] = -1.0
        conv.bias[3 * group + 2] = CONSTANT


def _undo_norm(norm: nn.GroupNorm, groups: int) -> None:
    """norm maps the v channel of each routed group to v + SILU_OFFSET, everything else to 0."""
    _zero(norm)
    for group in range(groups):
        norm.weight[3 * group] = SPREAD
        norm.bias[3 * group] = CONSTANT / 3 + SILU_OFFSET


def _route_out(conv: nn.Conv2d, targets: list[int]) -> None:
    """conv (centre tap) reads group k's v + SILU_OFFSET back into output channel targets[k]."""
    _zero(conv)
    centre = conv.kernel_size[0] // 2
    for group, target in enumerate(targets):
        conv.weight[target, 3 * group, centre, centre] = 1.0
        conv.bias[target] = -SILU_OFFSET


def _copy(conv: nn.Conv2d, channels: int, taps: list[tuple[int, int]]) -> None:
    """Each channel maps to itself through `taps`, averaged (a plain copy or a box filter)."""
    _zero(conv)
    for c in range(channels):
        for dy, dx in taps:
            conv.weight[c, c, dy, dx] = 1.0 / len(taps)


def _identity_blocks(net: nn.Module) -> None:
    for block in _resnet_blocks(net):
        _zero(block.conv2)  # the block is its skip connection; conv1 keeps its random init


def _init_encoder(encoder: Encoder, config: AutoencoderConfig) -> None:
    _route_in(encoder.conv_in, [0, 1, 2])
    _identity_blocks(encoder)
    for level in encoder.down:
        if level.downsample is not None:  # padded right/bottom, stride 2: taps (0..1)² are a 2×2 mean
            _copy(level.downsample.conv, config.ch * config.ch_mult[-1], [(0, 0), (0, 1), (1, 0), (1, 1)])
    _undo_norm(encoder.norm_out, 3)
    _route_out(encoder.conv_out, [0, 1, 2])  # means 0-2; mean 3 stays 0
    z = config.z_channels
    encoder.conv_out.bias[z:] = -20.0  # log-variances: a posterior std of e^-10


def _undo_branch_norm(norm: nn.GroupNorm, groups: int) -> None:
    """A residual branch's first norm hands it v and -v at their own scale (plain GroupNorm would shrink
    them by the constant's spread, ~47x, and the branch would learn nothing), and the constant as 0."""
    for group in range(groups):
        norm.weight[3 * group : 3 * group + 2] = SPREAD
        norm.bias[3 * group : 3 * group + 2] = CONSTANT / 3
        norm.weight[3 * group + 2] = 0.0
        norm.bias[3 * group + 2] = 0.0


def _pair_branch(block: ResnetBlock) -> None:
    """The branch's hidden features in the same (h, -h, C) groups, so its second norm is as fixed as the
    first: left plain, it scaled a flat crop's near-zero variance up to unit size, and the branches
    learned noise (whole-image PSNR fell from 34.9 to 31.3 dB in 100 steps)."""
    conv = block.conv1
    conv.weight.mul_(math.sqrt(conv.in_channels / 8))  # only 8 of its inputs (±v) carry anything
    tie_pairs(conv)
    _undo_branch_norm(block.norm2, conv.out_channels // 3)


def tie_pairs(conv: nn.Conv2d) -> None:
    """Project conv onto the (h, -h, C) structure: output 3g+1 = -(output 3g), output 3g+2 = C."""
    half = (conv.weight[0::3] - conv.weight[1::3]) / 2
    conv.weight[0::3], conv.weight[1::3], conv.weight[2::3] = half, -half, 0.0
    half = (conv.bias[0::3] - conv.bias[1::3]) / 2
    conv.bias[0::3], conv.bias[1::3], conv.bias[2::3] = half, -half, CONSTANT


def _init_decoder(decoder: Decoder, config: AutoencoderConfig) -> None:
    _route_in(decoder.conv_in, [0, 1, 2, 3])
    _identity_blocks(decoder)
    for block in _resnet_blocks(decoder):
        _undo_branch_norm(block.norm1, 4)
        _pair_branch(block)
    for level in decoder.up:
        if level.upsample is not None:
            _copy(level.upsample.conv, config.ch * config.ch_mult[-1], [(1, 1)])
    _undo_norm(decoder.norm_out, 3)
    _route_out(decoder.conv_out, [0, 1, 2])


@torch.no_grad()
def upsampling_autoencoder(config: AutoencoderConfig) -> Autoencoder:
    """An Autoencoder(config) whose encoder box-filters by 4 and whose decoder upsamples by nearest ×4."""
    if config.kind != "kl" or config.downscale != FACTOR or config.attn_type != "none":
        raise ValueError("the upsampling start needs a KL-f4 autoencoder without attention")
    if len(set(config.ch_mult)) != 1 or config.ch * config.ch_mult[0] < 12 or config.z_channels < 4:
        raise ValueError("the upsampling start needs one width throughout, room for 4 groups, 4 latents")
    model = Autoencoder(config)
    _init_encoder(model.encoder, config)
    _init_decoder(model.decoder, config)
    for conv in (model.quant_conv, model.post_quant_conv):
        _copy(conv, conv.out_channels, [(0, 0)])
    return model


def confine_branch_outputs(model: Autoencoder, blocks: list[ResnetBlock] | None = None) -> None:
    """Let the residual branches (of `blocks`, default all the decoder's) write only into the colour
    channels: a branch that wrote into the constant or the unused channels would make the later norms'
    statistics depend on the image again. (Gradient hooks: Adam then never moves the other rows of each
    last conv, which start at zero.)"""
    keep = torch.zeros(model.decoder.conv_in.out_channels, dtype=torch.bool)
    keep[list(COLOUR_CHANNELS)] = True
    for block in _resnet_blocks(model.decoder) if blocks is None else blocks:
        block.conv2.weight.register_hook(lambda g: g * keep.view(-1, 1, 1, 1).to(g.dtype))
        block.conv2.bias.register_hook(lambda g: g * keep.to(g.dtype))


@torch.no_grad()
def keep_branch_pairs(model: Autoencoder) -> None:
    """After an optimiser step: put every branch's first conv back onto the (h, -h, C) structure."""
    for block in _resnet_blocks(model.decoder):
        tie_pairs(block.conv1)


def trainable_parameters(model: Autoencoder) -> list[nn.Parameter]:
    """The decoder's residual branches (norms and convs inside its ResnetBlocks); the rest stays fixed."""
    return [p for block in _resnet_blocks(model.decoder) for p in block.parameters()]
