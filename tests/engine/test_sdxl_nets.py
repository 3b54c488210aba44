"""SDXL's networks against diffusers/transformers on tiny random weights in the original single-file layout.

The references are built from the ORIGINAL keys by diffusers' own single-file converters
(convert_ldm_unet_checkpoint, convert_ldm_clip_checkpoint, convert_open_clip_checkpoint) and loaded
strictly, so they know nothing of our module structure. Outputs are compared as the SDXL pipeline uses
them: the UNet with `added_cond_kwargs` (pooled text + time ids), the context from hidden_states[-2] of
both encoders, the pooled vector from CLIPTextModelWithProjection's text_embeds.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from ldm_studio.engine.nets.configs import TextEncoderConfig, UNetConfig
from ldm_studio.engine.nets.sdxl_embed import sdxl_refiner_vector, sdxl_vector
from ldm_studio.engine.nets.text import (
    TextEncoder,
    built_layer_count,
    text_state_dict_from_checkpoint,
    text_state_dict_to_checkpoint,
)
from ldm_studio.engine.nets.unet import UNetModel
from tests.sdxl_checkpoints import (
    BIGG_PREFIX,
    CLIP_L_PREFIX,
    SDXL_KINDS,
    TINY_BIGG,
    TINY_CLIP_L,
    UNET_PREFIX,
    tiny_sdxl_parts,
    tiny_sdxl_state_dict,
    write_tiny_sdxl_checkpoint,
)

single_file_utils = pytest.importorskip("diffusers.loaders.single_file_utils")
from diffusers import UNet2DConditionModel  # noqa: E402

from tests.engine.reference_convert import original_config  # noqa: E402

BOS, EOS = 49406, 49407
TIMESTEPS = torch.tensor([999.0, 12.34])
ORIGINAL, CROP, TARGET = (1024, 896), (16, 32), (768, 1152)


# ---- references ----


def _diffusers_unet(kind: str) -> UNet2DConditionModel:
    parts = tiny_sdxl_parts(kind)
    checkpoint = {k: v for k, v in tiny_sdxl_state_dict(kind).items() if k.startswith(UNET_PREFIX)}
    config = single_file_utils.create_unet_diffusers_config_from_ldm(
        original_config(parts.unet, parts.vae), checkpoint
    )
    # diffusers keys SDXL's "text_time" add-embedding on the real context widths (2048, 1280); a tiny one
    # gets the numerically equal "projection" class embedding. Ask for SDXL's path, as the real files get.
    config.update(class_embed_type=None, addition_embed_type="text_time", addition_time_embed_dim=256)
    # Its head counts are (model_channels // 64) * mult, 0 for a 32-channel model: count them per level
    # (64-wide heads; level 0 has no attention, its entry is unused).
    config["attention_head_dim"] = [max(1, ch // 64) for ch in config["block_out_channels"]]
    converted = single_file_utils.convert_ldm_unet_checkpoint(checkpoint, config)
    assert len(converted) == len(checkpoint)  # every original tensor consumed
    model = UNet2DConditionModel(**config)
    model.load_state_dict(converted, strict=True)
    return model.eval()


def _hf_text_config(config: TextEncoderConfig, layers: int | None = None) -> CLIPTextConfig:
    return CLIPTextConfig(
        hidden_size=config.hidden_size,
        num_hidden_layers=layers or config.num_layers,
        num_attention_heads=config.num_heads,
        intermediate_size=config.intermediate_size,
        hidden_act=config.hidden_act,
        projection_dim=config.hidden_size,
        bos_token_id=BOS,
        eos_token_id=EOS,
        pad_token_id=config.pad_token_id,
    )


def _reference_clip_l(checkpoint: dict) -> CLIPTextModel:
    converted = single_file_utils.convert_ldm_clip_checkpoint(checkpoint)
    # transformers >= 5.6 CLIPTextModel has no `text_model.` level; position_ids is a non-persistent buffer.
    sd = {k.removeprefix("text_model."): v for k, v in converted.items() if not k.endswith("position_ids")}
    model = CLIPTextModel(_hf_text_config(TINY_CLIP_L))
    model.load_state_dict(sd, strict=True)
    return model.eval()


def _reference_bigg(checkpoint: dict, prefix: str) -> CLIPTextModelWithProjection:
    model = CLIPTextModelWithProjection(_hf_text_config(TINY_BIGG))
    converted = single_file_utils.convert_open_clip_checkpoint(model, checkpoint, prefix=prefix + "model.")
    model.load_state_dict(converted, strict=True)
    return model.eval()


# ---- ours ----


def _our_unet(kind: str) -> UNetModel:
    sd = {
        k.removeprefix(UNET_PREFIX): v
        for k, v in tiny_sdxl_state_dict(kind).items()
        if k.startswith(UNET_PREFIX)
    }
    with torch.device("meta"):
        model = UNetModel(tiny_sdxl_parts(kind).unet)
    model.load_state_dict(sd, strict=True, assign=True)
    return model.eval()


def _our_text(checkpoint: dict, prefix: str, config: TextEncoderConfig) -> TextEncoder:
    stripped = {k.removeprefix(prefix): v for k, v in checkpoint.items() if k.startswith(prefix)}
    with torch.device("meta"):
        encoder = TextEncoder(config)
    encoder.load_state_dict(text_state_dict_from_checkpoint(stripped, config), strict=True, assign=True)
    return encoder.eval()


def _token_ids(pad: int) -> torch.Tensor:
    """Two prompts of different lengths (EOS at 9 and 31), the rest padding, as each tokenizer pads."""
    generator = torch.Generator().manual_seed(0)
    ids = torch.full((2, 77), pad)
    for row, length in enumerate((8, 30)):
        ids[row, 0] = BOS
        ids[row, 1 : length + 1] = torch.randint(0, BOS, (length,), generator=generator)
        ids[row, length + 1] = EOS
    return ids


def _inputs(config: UNetConfig, batch: int = 2):
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(batch, config.in_channels, 8, 8, generator=generator)
    context = torch.randn(batch, 77, config.context_dim, generator=generator)
    pooled = torch.randn(batch, TINY_BIGG.hidden_size, generator=generator)
    return x, context, pooled


def _time_ids(kind: str, batch: int = 2, score: float = 6.0) -> torch.Tensor:
    # diffusers' add_time_ids: original (h, w) + crop (top, left) + target (h, w) or the aesthetic score.
    tail = (score,) if kind == "sdxl-refiner" else TARGET
    return torch.tensor([[*ORIGINAL, *CROP, *tail]], dtype=torch.float32).expand(batch, -1)


def _our_vector(kind: str, pooled: torch.Tensor, crop=CROP, score: float = 6.0) -> torch.Tensor:
    if kind == "sdxl-refiner":
        return sdxl_refiner_vector(pooled, ORIGINAL, crop, score)
    return sdxl_vector(pooled, ORIGINAL, crop, TARGET)


def _relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    scale = reference.abs().max().item()
    assert scale > 0.1, "reference output is near zero: the comparison would prove nothing"
    assert ours.shape == reference.shape
    return (ours - reference).abs().max().item() / scale


# ---- UNet ----


@pytest.mark.parametrize("kind", SDXL_KINDS)
@torch.no_grad()
def test_unet_matches_diffusers_with_micro_conditioning(kind):
    ours, reference = _our_unet(kind), _diffusers_unet(kind)
    x, context, pooled = _inputs(ours.config)
    added = {"text_embeds": pooled, "time_ids": _time_ids(kind)}
    expected = reference(x, TIMESTEPS, encoder_hidden_states=context, added_cond_kwargs=added).sample
    got = ours(x, TIMESTEPS, context, _our_vector(kind, pooled))
    assert _relative_error(got, expected) <= 1e-4


@pytest.mark.parametrize("kind", ["sdxl", "sdxl-refiner"])
@torch.no_grad()
def test_micro_conditioning_vector_matches_diffusers_add_embedding(kind):
    reference = _diffusers_unet(kind)
    _, _, pooled = _inputs(_our_unet(kind).config)
    time_ids = _time_ids(kind)
    # diffusers' UNet2DConditionModel "text_time" path, step by step.
    time_embeds = reference.add_time_proj(time_ids.flatten()).reshape(pooled.shape[0], -1)
    expected = torch.cat([pooled, time_embeds], dim=-1)
    ours = _our_vector(kind, pooled)
    assert ours.shape == (2, tiny_sdxl_parts(kind).unet.adm_in_channels)
    assert (ours - expected).abs().max() <= 1e-6
    aug = reference.add_embedding(expected)
    assert (_our_unet(kind).label_emb(ours) - aug).abs().max() <= 1e-5 * aug.abs().max()


@torch.no_grad()
def test_micro_conditioning_changes_the_prediction():
    ours = _our_unet("sdxl")
    x, context, pooled = _inputs(ours.config)
    base = ours(x, TIMESTEPS, context, _our_vector("sdxl", pooled))
    cropped = ours(x, TIMESTEPS, context, _our_vector("sdxl", pooled, crop=(0, 0)))
    assert (base - cropped).abs().max() > 1e-4 * base.abs().max()
    refiner = _our_unet("sdxl-refiner")
    x, context, pooled = _inputs(refiner.config)
    high = refiner(x, TIMESTEPS, context, _our_vector("sdxl-refiner", pooled, score=6.0))
    low = refiner(x, TIMESTEPS, context, _our_vector("sdxl-refiner", pooled, score=2.5))
    assert (high - low).abs().max() > 1e-4 * high.abs().max()


def test_missing_vector_raises_a_clear_error():
    ours = _our_unet("sdxl")
    x, context, _ = _inputs(ours.config)
    with pytest.raises(ValueError, match="class labels"):
        ours(x, TIMESTEPS, context)


def test_meta_build_loads_with_no_buffers_and_no_meta_tensors():
    ours = _our_unet("sdxl-refiner")
    assert list(ours.buffers()) == []
    assert not any(p.is_meta for p in ours.parameters())


SDXL_BASE = UNetConfig(
    model_channels=320,
    channel_mult=(1, 2, 4),
    attention_resolutions=(4, 2),
    num_heads=-1,
    num_head_channels=64,
    context_dim=2048,
    use_linear_in_transformer=True,
    transformer_depth=(1, 2, 10),  # as sd_xl_base.yaml: level 0 has no attention, its entry is unused
    num_classes="sequential",
    adm_in_channels=2816,
    legacy=False,
)
SDXL_REFINER = dataclasses.replace(
    SDXL_BASE, model_channels=384, channel_mult=(1, 2, 4, 4), context_dim=1280, transformer_depth=4,
    adm_in_channels=2560,
)  # fmt: skip


@pytest.mark.parametrize("config", [SDXL_BASE, SDXL_REFINER], ids=["base", "refiner"])
def test_full_size_layout_loads_strictly_into_diffusers(config):
    # On the meta device: every key and shape of the real network; diffusers picks "text_time" by itself.
    with torch.device("meta"):
        ours = UNetModel(config)
        checkpoint = {UNET_PREFIX + k: v for k, v in ours.state_dict().items()}
        unet_config = single_file_utils.create_unet_diffusers_config_from_ldm(
            original_config(config), checkpoint
        )
        assert unet_config["addition_embed_type"] == "text_time"
        converted = single_file_utils.convert_ldm_unet_checkpoint(checkpoint, unet_config)
        reference = UNet2DConditionModel(**unet_config)
    assert len(converted) == len(checkpoint)
    reference.load_state_dict(converted, strict=True, assign=True)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in reference.parameters())


def test_sdxl_base_has_the_checkpoint_key_names():
    with torch.device("meta"):
        keys = UNetModel(SDXL_BASE).state_dict()
    assert len(keys) == 1680  # model.diffusion_model.* tensors in sd_xl_base_1.0
    assert sum(v.numel() for v in keys.values()) == 2_567_463_684
    assert keys["label_emb.0.0.weight"].shape == (1280, 2816)
    assert keys["label_emb.0.2.weight"].shape == (1280, 1280)
    assert keys["input_blocks.4.1.transformer_blocks.1.attn2.to_k.weight"].shape == (640, 2048)
    assert keys["input_blocks.7.1.proj_in.weight"].shape == (1280, 1280)  # linear projection
    for key in (
        "middle_block.1.transformer_blocks.9.ff.net.2.weight",
        "input_blocks.8.1.transformer_blocks.9.attn1.to_q.weight",
        "output_blocks.2.2.conv.weight",  # level 2's upsampler, after its attention
        "output_blocks.5.2.conv.weight",
        "output_blocks.8.0.out_layers.3.weight",
    ):
        assert key in keys, key
    assert not any(
        k.startswith(("input_blocks.1.1.", "input_blocks.2.1.", "output_blocks.6.1.")) for k in keys
    )
    assert "middle_block.1.transformer_blocks.10.norm1.weight" not in keys


# ---- text encoders ----


@torch.no_grad()
def test_clip_l_context_is_the_penultimate_layer_without_final_norm():
    checkpoint = tiny_sdxl_state_dict("sdxl")
    ids = _token_ids(pad=EOS)
    reference = _reference_clip_l(checkpoint)
    states = reference(input_ids=ids, output_hidden_states=True).hidden_states
    ours = _our_text(checkpoint, CLIP_L_PREFIX, TINY_CLIP_L)
    assert len(ours.transformer.encoder.layers) == TINY_CLIP_L.num_layers - 1  # the last is never run
    got = ours(ids)
    assert _relative_error(got, states[-2]) <= 1e-5
    assert (got - reference.final_layer_norm(states[-2])).abs().max() > 1e-2  # SD2's way would differ


@pytest.mark.parametrize("kind", ["sdxl", "sdxl-refiner"])
@pytest.mark.parametrize("pad", [0, EOS], ids=["pad-zero", "pad-eos"])
@torch.no_grad()
def test_bigg_context_and_pooled_match_transformers_with_projection(kind, pad):
    checkpoint = tiny_sdxl_state_dict(kind)
    prefix = tiny_sdxl_parts(kind).bigg_prefix
    ids = _token_ids(pad)
    out = _reference_bigg(checkpoint, prefix)(input_ids=ids, output_hidden_states=True)
    context, pooled = _our_text(checkpoint, prefix, TINY_BIGG)(ids, return_pooled=True)
    assert _relative_error(context, out.hidden_states[-2]) <= 1e-5
    assert _relative_error(pooled, out.text_embeds) <= 1e-5
    # The pooled vector reads each prompt's own EOS position: the rows differ.
    assert (pooled[0] - pooled[1]).abs().max() > 1e-2


@torch.no_grad()
def test_sdxl_context_is_the_concatenation_the_unet_expects():
    checkpoint = tiny_sdxl_state_dict("sdxl")
    clip_l = _our_text(checkpoint, CLIP_L_PREFIX, TINY_CLIP_L)(_token_ids(pad=EOS))
    bigg, _ = _our_text(checkpoint, BIGG_PREFIX, TINY_BIGG)(_token_ids(pad=0), return_pooled=True)
    context = torch.cat([clip_l, bigg], dim=-1)
    assert context.shape == (2, 77, tiny_sdxl_parts("sdxl").unet.context_dim)


def test_pooled_needs_every_layer_and_the_projection():
    assert built_layer_count(TINY_BIGG) == TINY_BIGG.num_layers
    assert built_layer_count(dataclasses.replace(TINY_BIGG, pooled=False)) == TINY_BIGG.num_layers - 1
    with torch.device("meta"):
        keys = TextEncoder(TINY_BIGG).state_dict()
    assert keys["text_projection"].shape == (TINY_BIGG.hidden_size, TINY_BIGG.hidden_size)
    clip_l = _our_text(tiny_sdxl_state_dict("sdxl"), CLIP_L_PREFIX, TINY_CLIP_L)
    with pytest.raises(ValueError, match="pooled"):
        clip_l(_token_ids(pad=EOS), return_pooled=True)


def test_bigg_round_trips_through_the_original_layout():
    checkpoint = tiny_sdxl_state_dict("sdxl")
    original = {k.removeprefix(BIGG_PREFIX): v for k, v in checkpoint.items() if k.startswith(BIGG_PREFIX)}
    ours = text_state_dict_from_checkpoint(original, TINY_BIGG)
    assert torch.equal(ours["text_projection"], original["model.text_projection"])  # x @ P: not transposed
    written = text_state_dict_to_checkpoint(ours, TINY_BIGG)
    assert set(original) - set(written) == {"model.logit_scale"}
    assert all(torch.equal(written[k], original[k]) for k in written)


def test_full_size_bigg_loads_strictly_into_transformers():
    bigg = dataclasses.replace(
        TINY_BIGG, hidden_size=1280, num_layers=32, num_heads=20, intermediate_size=5120
    )
    with torch.device("meta"):
        checkpoint = {
            BIGG_PREFIX + k: v
            for k, v in text_state_dict_to_checkpoint(TextEncoder(bigg).state_dict(), bigg).items()
        }
        reference = CLIPTextModelWithProjection(_hf_text_config(bigg))
        converted = single_file_utils.convert_open_clip_checkpoint(
            reference, checkpoint, BIGG_PREFIX + "model."
        )
    reference.load_state_dict(converted, strict=True, assign=True)
    assert sum(p.numel() for p in reference.parameters()) == 694_659_840  # SDXL's text_encoder_2


# ---- the tiny files ----


@pytest.mark.parametrize(
    ("kind", "fmt", "dtype"),
    [("sdxl", "safetensors", torch.float16), ("sdxl-refiner", "ckpt", torch.bfloat16)],
)
def test_tiny_files_hold_the_original_layout(tmp_path, kind, fmt, dtype):
    path = write_tiny_sdxl_checkpoint(
        tmp_path / f"m.{fmt}", kind, dtype=dtype, fmt=fmt, v_pred=True, ztsnr=True
    )
    if fmt == "safetensors":
        from safetensors.torch import load_file

        sd = load_file(str(path))
    else:
        sd = torch.load(path, weights_only=True)["state_dict"]
    expected = tiny_sdxl_state_dict(kind, v_pred=True, ztsnr=True)
    assert sd.keys() == expected.keys()
    assert {"v_pred", "ztsnr"} <= sd.keys()
    assert all(v.dtype == dtype for v in sd.values() if v.is_floating_point())
    unet = {k for k in sd if k.startswith(UNET_PREFIX)}
    assert UNET_PREFIX + "label_emb.0.0.weight" in unet
    assert sd[UNET_PREFIX + "label_emb.0.0.weight"].shape[1] == tiny_sdxl_parts(kind).unet.adm_in_channels
    if kind == "sdxl-refiner":
        assert not any(
            k.startswith(("conditioner.embedders.1.", "conditioner.embedders.0.transformer.")) for k in sd
        )
        assert "conditioner.embedders.0.model.text_projection" in sd
    else:
        assert "conditioner.embedders.1.model.logit_scale" in sd
