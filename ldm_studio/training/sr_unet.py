"""The demo upscaler's UNet starts as a pass-through: it predicts x0 = its low-res input, then learns.

With the upscaler's own autoencoder (`sr_autoencoder`) the latent of a 512² image is its 128² low-res
image, which is also what the UNet is conditioned on. So an x0-predicting UNet that returns its
conditioning is right from the first step for a clean input, and training only has to learn what
differs: undoing the noise augmentation and the sqrt(ᾱ) scaling of the low-res input. A UNet trained
from random weights to return its input did not get there in 2000 steps (colour shifts of 3-12/255).

The path, in the original architecture (every other weight keeps its random init):
- conv_in copies the three low-res channels into its channels 0-2 (hs[0], the first skip);
- the last output block's 1×1 skip conv writes a·v and -a·v of each of them into channels 2k, 2k+1
  (one GroupNorm group each); its residual branch writes nothing there;
- the output GroupNorm: a group (a·v, -a·v) has mean 0 exactly and a variance a²·E[v²] far below the
  norm's eps (a = 2⁻¹⁴: under 6·10⁻⁴ of it), so the norm is a fixed scale, undone by its weight; the
  bias lifts both into SiLU's linear range and conv_out takes half their difference times the latent
  scale factor. conv_out reads nothing else at the start, so the UNet returns scale·v exactly.
These routing weights stay fixed during training (`freeze_routing`): a step of 10⁻⁴ on a weight of a
would double it. Everything else, including what conv_out reads from the other channels, trains.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ldm_studio.engine.nets.configs import UNetConfig
from ldm_studio.engine.nets.unet import UNetModel

ROUTE_SCALE = 2.0**-14  # a power of two: exact in fp16, and small enough that a²E[v²] ≪ eps
SILU_OFFSET = 15.0  # silu(y + 15) = y + 15 to within 2e-5 for |y| ≤ 1
LATENT_CHANNELS = 3  # colour latents; the fourth latent channel of the box encoder is 0
ROUTED = 2 * LATENT_CHANNELS  # channels 0-5 of the last block carry (a·v, -a·v) pairs


def _parts(unet: UNetModel) -> tuple[nn.Conv2d, nn.Conv2d, nn.Conv2d, nn.GroupNorm, nn.Conv2d]:
    last = unet.output_blocks[-1][0]
    norm, _, conv_out = unet.out
    return unet.input_blocks[0][0], last.skip_connection, last.out_layers[-1], norm, conv_out


@torch.no_grad()
def passthrough_unet(config: UNetConfig, scale_factor: float) -> UNetModel:
    """UNetModel(config) that returns scale_factor × its concatenated low-res channels (as x0)."""
    latent = config.out_channels
    if config.in_channels != latent + LATENT_CHANNELS or latent < LATENT_CHANNELS:
        raise ValueError("the pass-through needs [latent, 3 low-res channels] in and the latent out")
    unet = UNetModel(config)
    conv_in, skip, branch_out, norm, conv_out = _parts(unet)
    if skip.kernel_size != (1, 1) or norm.num_groups * 2 != norm.num_channels:
        raise ValueError("the pass-through needs a 1x1 skip conv in the last block and 2 channels per group")
    centre = conv_in.kernel_size[0] // 2
    conv_in.weight[:LATENT_CHANNELS] = 0.0
    conv_in.bias[:LATENT_CHANNELS] = 0.0
    skip.weight[:ROUTED] = 0.0
    skip.bias[:ROUTED] = 0.0
    first_skip = skip.in_channels - conv_in.out_channels  # torch.cat([h, skips.pop()]): hs[0] comes last
    branch_out.weight[:ROUTED] = 0.0
    branch_out.bias[:ROUTED] = 0.0
    conv_out.weight.zero_()
    conv_out.bias.zero_()
    undo_norm = math.sqrt(norm.eps) / ROUTE_SCALE
    for k in range(LATENT_CHANNELS):
        conv_in.weight[k, latent + k, centre, centre] = 1.0
        skip.weight[2 * k, first_skip + k] = ROUTE_SCALE
        skip.weight[2 * k + 1, first_skip + k] = -ROUTE_SCALE
        norm.weight[2 * k : 2 * k + 2] = undo_norm
        norm.bias[2 * k : 2 * k + 2] = SILU_OFFSET
        conv_out.weight[k, 2 * k, centre, centre] = scale_factor / 2
        conv_out.weight[k, 2 * k + 1, centre, centre] = -scale_factor / 2
    return unet


def _keep_rows(param: nn.Parameter, rows: int, dim: int = 0) -> None:
    """Zero the gradient of the first `rows` entries along `dim`: Adam then never moves them."""
    mask = torch.ones(param.shape[dim], dtype=param.dtype, device=param.device)
    mask[:rows] = 0.0
    shape = [1] * param.dim()
    shape[dim] = -1
    param.register_hook(lambda g: g * mask.view(shape).to(g.dtype))


def freeze_routing(unet: UNetModel) -> None:
    """Keep the pass-through weights as `passthrough_unet` set them while the rest trains."""
    conv_in, skip, branch_out, norm, conv_out = _parts(unet)
    for param, rows in (
        (conv_in.weight, LATENT_CHANNELS),
        (conv_in.bias, LATENT_CHANNELS),
        (skip.weight, ROUTED),
        (skip.bias, ROUTED),
        (branch_out.weight, ROUTED),
        (branch_out.bias, ROUTED),
        (norm.weight, ROUTED),
        (norm.bias, ROUTED),
    ):
        _keep_rows(param, rows)
    _keep_rows(conv_out.weight, ROUTED, dim=1)  # what conv_out reads from the routed channels
