"""Our UNet against diffusers on tiny random weights saved in the original checkpoint layout.

A mismatch here means a real checkpoint would produce wrong images (or not load at all).
"""

from dataclasses import replace

import pytest
import torch

from ldm_studio.engine.nets.configs import UNetConfig
from ldm_studio.engine.nets.unet import UNetModel
from tests.engine.reference_convert import diffusers_legacy_unet, diffusers_unet, randomize_

# Tiny versions of the real families (docs/MODEL_FACTS.md): same structure, 32/64/128 channels.
SD1 = UNetConfig(
    model_channels=32, channel_mult=(1, 2, 2), attention_resolutions=(2, 1), num_heads=8, context_dim=32
)
SD2 = replace(
    SD1, num_heads=-1, num_head_channels=16, context_dim=40, use_linear_in_transformer=True, legacy=False
)
SD1_INPAINT = replace(SD1, in_channels=9)
X4_UPSCALER = UNetConfig(
    in_channels=7,
    model_channels=32,
    channel_mult=(1, 2, 2, 4),
    attention_resolutions=(2, 4, 8),  # none at level 0
    num_heads=8,
    context_dim=40,
    use_linear_in_transformer=True,
    disable_self_attentions=(True, True, True, False),
    num_classes=1000,
    legacy=False,
)
LDM_BSR = UNetConfig(
    in_channels=6,
    out_channels=3,
    model_channels=32,
    channel_mult=(1, 2, 2, 4),
    attention_resolutions=(16, 8),
    num_heads=-1,
    num_head_channels=32,
    use_spatial_transformer=False,
    context_dim=None,
)
# Fixed head count: UNet2DModel needs one head width, so every attention level has 64 channels.
LDM_INPAINT = UNetConfig(
    in_channels=7,
    out_channels=3,
    model_channels=32,
    channel_mult=(1, 2, 2, 2),
    attention_resolutions=(8, 4, 2),
    num_heads=4,
    use_spatial_transformer=False,
    context_dim=None,
    resblock_updown=True,
)

TIMESTEPS = torch.tensor([999.0, 12.34])  # fractional t, as Karras schedules give


def _inputs(config: UNetConfig, size: int = 8):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, config.in_channels, size, size, generator=gen)
    context = torch.randn(2, 7, config.context_dim, generator=gen) if config.context_dim else None
    labels = torch.tensor([20, 350]) if config.num_classes else None
    return x, context, labels


def _assert_matches(ours: torch.Tensor, reference: torch.Tensor) -> None:
    scale = reference.abs().max().item()
    assert scale > 0.1, "reference output is near zero: the comparison would prove nothing"
    assert ours.shape == reference.shape
    assert (ours - reference).abs().max().item() <= 1e-4 * scale


def _tiny(config: UNetConfig) -> UNetModel:
    return randomize_(UNetModel(config)).eval()


@pytest.mark.parametrize(
    "config", [SD1, SD2, SD1_INPAINT, X4_UPSCALER], ids=["sd1", "sd2", "sd1-inpaint", "x4-upscaler"]
)
def test_unet_matches_diffusers(config):
    ours = _tiny(config)
    reference = diffusers_unet(ours.state_dict(), config)
    x, context, labels = _inputs(config)
    with torch.no_grad():
        out = ours(x, TIMESTEPS, context, labels)
        expected = reference(x, TIMESTEPS, encoder_hidden_states=context, class_labels=labels).sample
    _assert_matches(out, expected)


@pytest.mark.parametrize("config", [LDM_BSR, LDM_INPAINT], ids=["ldm-bsr", "ldm-inpaint-resblock-updown"])
def test_legacy_attention_unet_matches_diffusers_unet2dmodel(config):
    ours = _tiny(config)
    reference = diffusers_legacy_unet(ours.state_dict(), config)
    x, _, _ = _inputs(config)
    with torch.no_grad():
        _assert_matches(ours(x, TIMESTEPS), reference(x, TIMESTEPS).sample)


def test_x4_noise_level_changes_the_prediction():
    ours = _tiny(X4_UPSCALER)
    x, context, _ = _inputs(X4_UPSCALER)
    with torch.no_grad():
        low = ours(x, TIMESTEPS, context, torch.tensor([20, 20]))
        high = ours(x, TIMESTEPS, context, torch.tensor([350, 350]))
    assert (low - high).abs().max() > 1e-3


FULL_SIZE = {
    "sd1": UNetConfig(),
    "sd2": UNetConfig(
        num_heads=-1, num_head_channels=64, context_dim=1024, use_linear_in_transformer=True, legacy=False
    ),
    "x4-upscaler": replace(X4_UPSCALER, model_channels=256, context_dim=1024),
}


@pytest.mark.parametrize("name", FULL_SIZE)
def test_full_size_layout_loads_strictly_into_diffusers(name):
    # On the meta device: every key and shape of the real-size network, at no compute cost.
    config = FULL_SIZE[name]
    with torch.device("meta"):
        ours = UNetModel(config)
        reference = diffusers_unet(ours.state_dict(), config)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in reference.parameters())


def test_sd1_has_the_checkpoint_key_names():
    with torch.device("meta"):
        keys = UNetModel(UNetConfig()).state_dict()
    assert len(keys) == 686  # model.diffusion_model.* tensors in v1-5-pruned-emaonly
    for key in (
        "time_embed.0.weight",
        "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight",
        "input_blocks.3.0.op.weight",
        "middle_block.1.proj_in.weight",
        "output_blocks.2.1.conv.weight",  # upsample at index 1: that block has no attention
        "output_blocks.5.2.conv.weight",  # ... and at index 2 where it has
        "output_blocks.11.1.transformer_blocks.0.ff.net.2.weight",
        "out.2.weight",
    ):
        assert key in keys, key
    assert keys["input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"].shape == (320, 768)


def test_meta_build_with_assign_load_gives_identical_outputs():
    built = _tiny(SD2)
    with torch.device("meta"):
        loaded = UNetModel(SD2)
    loaded.load_state_dict(built.state_dict(), assign=True)
    assert not any(t.is_meta for t in loaded.state_dict().values())
    assert list(loaded.buffers()) == []
    x, context, _ = _inputs(SD2)
    with torch.no_grad():
        assert torch.equal(loaded(x, TIMESTEPS, context), built(x, TIMESTEPS, context))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_forward_stays_close_to_float32(dtype):
    ours = _tiny(X4_UPSCALER)
    x, context, labels = _inputs(X4_UPSCALER)
    with torch.no_grad():
        expected = ours(x, TIMESTEPS, context, labels)
        out = ours.to(dtype)(x, TIMESTEPS, context, labels)
    assert out.dtype == torch.float32  # returned in the input's dtype
    assert torch.isfinite(out).all()
    assert (out - expected).abs().max() <= 0.05 * expected.abs().max()


def test_scalar_timestep_is_broadcast_over_the_batch():
    ours = _tiny(SD1)
    x, context, _ = _inputs(SD1)
    with torch.no_grad():
        assert torch.allclose(ours(x, 500.5, context), ours(x, torch.tensor([500.5, 500.5]), context))


def test_missing_class_labels_raise_a_clear_error():
    ours = _tiny(X4_UPSCALER)
    x, context, _ = _inputs(X4_UPSCALER)
    with pytest.raises(ValueError, match="class labels"):
        ours(x, TIMESTEPS, context)
