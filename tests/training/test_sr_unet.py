"""The demo upscaler's UNet starts by returning its low-res input as x0, and training keeps that path."""

import pytest
import torch

from ldm_studio.training.sr_unet import ROUTED, freeze_routing, passthrough_unet
from ldm_studio.training.train_upscaler import UNET

SCALE = 1.7


def _inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, UNET.in_channels, 16, 16, generator=g)
    x[:, 4:] = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1  # the low-res image in [-1, 1]
    return x, torch.tensor([3.0, 870.0]), torch.tensor([0, 300])


def test_it_returns_scale_times_its_low_res_channels_whatever_the_latent_and_timestep():
    torch.manual_seed(0)
    unet = passthrough_unet(UNET, SCALE).eval()
    x, t, y = _inputs()
    with torch.inference_mode():
        out = unet(x, t, y=y)
        # the checkpoint stores fp16 weights: the routing survives the round trip
        half_out = passthrough_unet(UNET, SCALE).half().float().eval()(x, t, y=y)
    assert (out[:, :3] - SCALE * x[:, 4:]).abs().max() < 1e-3  # 0.1/255 of the image
    assert (half_out[:, :3] - SCALE * x[:, 4:]).abs().max() < 1e-3
    assert out[:, 3].abs().max() == 0


def test_training_moves_the_other_weights_but_not_the_pass_through():
    torch.manual_seed(0)
    unet = passthrough_unet(UNET, SCALE)
    freeze_routing(unet)
    before = {k: v.clone() for k, v in unet.state_dict().items()}
    optimizer = torch.optim.Adam(unet.parameters(), lr=1e-2)
    x, t, y = _inputs(1)
    for _ in range(2):
        optimizer.zero_grad()
        unet(x, t, y=y).square().mean().backward()  # any loss: this one pulls everything towards 0
        optimizer.step()
    state = unet.state_dict()
    changed = {k for k in state if not torch.equal(state[k], before[k])}
    assert "out.2.weight" in changed and "input_blocks.0.0.weight" in changed
    for key, sl in [
        ("input_blocks.0.0.weight", slice(0, 3)),
        ("output_blocks.3.0.skip_connection.weight", slice(0, ROUTED)),
        ("output_blocks.3.0.out_layers.3.weight", slice(0, ROUTED)),
        ("out.0.weight", slice(0, ROUTED)),
        ("out.0.bias", slice(0, ROUTED)),
    ]:
        assert torch.equal(state[key][sl], before[key][sl]), key
    assert torch.equal(state["out.2.weight"][:, :ROUTED], before["out.2.weight"][:, :ROUTED])


def test_a_unet_without_room_for_the_low_res_channels_is_refused():
    import dataclasses

    with pytest.raises(ValueError, match="pass-through"):
        passthrough_unet(dataclasses.replace(UNET, in_channels=4), SCALE)
