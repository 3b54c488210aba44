"""Our autoencoders against diffusers' AutoencoderKL / VQModel on tiny random weights in the original
layout, plus the tiled encode / decode used for large images."""

import math
from dataclasses import replace

import pytest
import torch

from ldm_studio.engine.nets.autoencoder import Autoencoder
from ldm_studio.engine.nets.configs import AutoencoderConfig
from ldm_studio.engine.nets.tiling import map_tiled
from tests.engine.reference_convert import diffusers_kl, diffusers_vq, randomize_

KL_F8 = AutoencoderConfig(ch=32, ch_mult=(1, 2, 4, 4), resolution=32)
KL_F4 = replace(KL_F8, ch_mult=(1, 2, 4), scale_factor=0.08333)
VQ_F4 = AutoencoderConfig(
    kind="vq",
    embed_dim=3,
    n_embed=64,
    double_z=False,
    z_channels=3,
    ch=32,
    ch_mult=(1, 2, 4),
    scale_factor=1.0,
    resolution=32,
)
VQ_F4_NO_ATTENTION = replace(VQ_F4, attn_type="none")  # LDM inpainting's first stage


def _tiny(config: AutoencoderConfig) -> Autoencoder:
    return randomize_(Autoencoder(config)).eval()


def _images(size: int = 32, batch: int = 2) -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1


def _assert_matches(ours: torch.Tensor, reference: torch.Tensor) -> None:
    scale = reference.abs().max().item()
    assert scale > 0.05, "reference output is near zero: the comparison would prove nothing"
    assert ours.shape == reference.shape
    assert (ours - reference).abs().max().item() <= 1e-4 * scale


@pytest.mark.parametrize("config", [KL_F8, KL_F4], ids=["kl-f8", "kl-f4"])
def test_kl_encode_and_decode_match_diffusers(config):
    ours = _tiny(config)
    reference = diffusers_kl(ours.state_dict(), config)
    images = _images()
    with torch.no_grad():
        latents = ours.encode(images)
        _assert_matches(latents, reference.encode(images).latent_dist.mode() * config.scale_factor)
        assert latents.shape == (2, 4, 32 // config.downscale, 32 // config.downscale)
        _assert_matches(ours.decode(latents), reference.decode(latents / config.scale_factor).sample)


def test_kl_encode_with_a_generator_samples_the_posterior_like_diffusers():
    ours = _tiny(KL_F4)
    reference = diffusers_kl(ours.state_dict(), KL_F4)
    images = _images()
    with torch.no_grad():
        sampled = ours.encode(images, generator=torch.Generator().manual_seed(7))
        again = ours.encode(images, generator=torch.Generator().manual_seed(7))
        expected = reference.encode(images).latent_dist.sample(generator=torch.Generator().manual_seed(7))
        mode = ours.encode(images)
    _assert_matches(sampled, expected * KL_F4.scale_factor)
    assert torch.equal(sampled, again)  # same seed, same latents
    assert (sampled - mode).abs().max() > 1e-2  # a sample, not the mean


@pytest.mark.parametrize("config", [VQ_F4, VQ_F4_NO_ATTENTION], ids=["vq-f4", "vq-f4-no-attention"])
def test_vq_encode_and_decode_match_diffusers(config):
    ours = _tiny(config)
    reference = diffusers_vq(ours.state_dict(), config)
    images = _images()
    with torch.no_grad():
        latents = ours.encode(images)
        _assert_matches(latents, reference.encode(images).latents)  # not quantized yet
        _assert_matches(ours.decode(latents), reference.decode(latents).sample)  # quantized first


def test_vq_decode_snaps_latents_to_the_codebook():
    ours = _tiny(VQ_F4)
    codes = ours.quantize.embedding.weight[torch.tensor([[3, 5], [7, 11]])]  # [2, 2, embed_dim]
    latents = codes.permute(2, 0, 1)[None].detach()
    with torch.no_grad():
        exact = ours.decode(latents)
        nudged = ours.decode(latents + 1e-3)
    assert torch.equal(exact, nudged)


def test_no_attention_variant_has_no_attention_weights():
    with torch.device("meta"):
        keys = Autoencoder(VQ_F4_NO_ATTENTION).state_dict()
    assert not [k for k in keys if ".attn" in k]
    assert "quantize.embedding.weight" in keys


def test_attention_weights_stored_as_linear_matrices_load_the_same():
    built = _tiny(KL_F4)
    state = built.state_dict()
    as_linear = {
        k: v[:, :, 0, 0] if ".attn_1." in k and k.endswith("weight") and v.ndim == 4 else v
        for k, v in state.items()
    }
    assert any(v.ndim == 2 for v in as_linear.values())
    with torch.device("meta"):
        loaded = Autoencoder(KL_F4)
    loaded.load_state_dict(as_linear, assign=True)
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(loaded.decode(latents), built.decode(latents))


@pytest.mark.parametrize(
    "config", [replace(KL_F8, ch=128), replace(VQ_F4, ch=128, n_embed=8192)], ids=["kl", "vq"]
)
def test_full_size_layout_loads_strictly_into_diffusers(config):
    with torch.device("meta"):
        ours = Autoencoder(config)
        reference = (diffusers_kl if config.kind == "kl" else diffusers_vq)(ours.state_dict(), config)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in reference.parameters())


def test_meta_build_with_assign_load_gives_identical_outputs():
    built = _tiny(KL_F8)
    with torch.device("meta"):
        loaded = Autoencoder(KL_F8)
    loaded.load_state_dict(built.state_dict(), assign=True)
    assert list(loaded.buffers()) == []
    images = _images(batch=1)
    with torch.no_grad():
        assert torch.equal(loaded.encode(images), built.encode(images))


def test_bfloat16_decode_stays_close_to_float32():
    ours = _tiny(KL_F4)
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = ours.decode(latents)
        out = ours.to(torch.bfloat16).decode(latents)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert (out - expected).abs().max() <= 0.05 * expected.abs().max()


# ---- tiling ----


def test_tiles_blend_back_exactly_for_a_local_operation():
    # A per-pixel op has no tile-edge effects, so any error here is in tile placement or weighting.
    x = torch.randn(1, 2, 37, 53, generator=torch.Generator().manual_seed(4))

    def op(t):
        return torch.nn.functional.interpolate(t, scale_factor=4.0) * 3 + 1

    tiled = map_tiled(op, x, tile=16, overlap=6, scale=4)
    assert torch.allclose(tiled, op(x), atol=1e-5)


def _smooth(channels: int, height: int, width: int, period: float) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(height).float(), torch.arange(width).float(), indexing="ij")
    f = 2 * math.pi / period
    return torch.stack([torch.sin(f * xx + k) * torch.cos(f * yy - 2 * k) for k in range(channels)])[None]


SMALL_KL = AutoencoderConfig(ch=32, ch_mult=(1, 2), num_res_blocks=1, resolution=32)


def test_tiled_decode_of_a_smooth_latent_agrees_with_untiled_and_has_no_seams():
    ours = randomize_(Autoencoder(SMALL_KL), std=0.05).eval()
    latents = _smooth(4, 40, 40, period=8)
    with torch.no_grad():
        whole = ours.decode(latents)
        tiled = ours.decode_tiled(latents, tile=24, overlap=8)
    value_range = (whole.max() - whole.min()).item()
    assert tiled.shape == whole.shape
    # Each tile normalises with its own GroupNorm statistics, so agreement is close but not exact.
    assert (tiled - whole).abs().mean() < 0.03 * value_range
    # No seam: the steepest step between neighbouring pixels is about that of the untiled image.
    for dim in (-1, -2):
        assert tiled.diff(dim=dim).abs().max() < 1.5 * whole.diff(dim=dim).abs().max()


def test_tiled_encode_agrees_with_untiled_and_keeps_the_sampling_noise():
    ours = randomize_(Autoencoder(SMALL_KL), std=0.05).eval()
    images = torch.nn.functional.interpolate(_smooth(3, 40, 40, period=8), scale_factor=2, mode="bilinear")
    with torch.no_grad():
        whole = ours.encode(images)
        tiled = ours.encode_tiled(images, tile=48, overlap=16)
        sampled = ours.encode_tiled(images, tile=48, overlap=16, generator=torch.Generator().manual_seed(5))
        sampled_whole = ours.encode(images, generator=torch.Generator().manual_seed(5))
    value_range = (whole.max() - whole.min()).item()
    assert tiled.shape == whole.shape == (1, 4, 40, 40)
    assert (tiled - whole).abs().mean() < 0.03 * value_range
    # Same seed, same noise: blending happens before sampling, so tiling does not average the noise away.
    noise, noise_whole = sampled - tiled, sampled_whole - whole
    assert (noise - noise_whole).abs().max() < 0.05 * noise_whole.abs().max()


def test_tile_sizes_that_do_not_fit_the_downscale_are_refused():
    ours = _tiny(KL_F4)
    with pytest.raises(ValueError, match="multiples of 4"):
        ours.encode_tiled(_images(), tile=30, overlap=8)
