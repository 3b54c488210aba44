"""Our text encoders load original SD1 / SD2 checkpoint layouts and match diffusers' conversions."""

import pytest
import torch
from torch import nn
from transformers import CLIPTextConfig, CLIPTextModel

from ldm_studio.engine.nets.configs import TextEncoderConfig
from ldm_studio.engine.nets.text import (
    TextEncoder,
    text_state_dict_from_checkpoint,
    text_state_dict_to_checkpoint,
)

# diffusers is a test-only dependency: without it these parity tests skip.
single_file_utils = pytest.importorskip("diffusers.loaders.single_file_utils")

WIDTH, LAYERS, HEADS, MLP = 64, 3, 4, 128
SD1 = TextEncoderConfig(hidden_size=WIDTH, num_layers=LAYERS, num_heads=HEADS, intermediate_size=MLP)
SD2 = TextEncoderConfig(
    kind="open_clip",
    hidden_size=WIDTH,
    num_layers=LAYERS,
    num_heads=HEADS,
    intermediate_size=MLP,
    hidden_act="gelu",
    layer="penultimate",
    pad_token_id=0,
)


def _random(*shape: int) -> torch.Tensor:
    return torch.randn(*shape) * 0.1


def _sd1_checkpoint() -> dict[str, torch.Tensor]:
    """Random SD1 text weights in the original layout, every tensor (LayerNorms too) random."""
    reference = CLIPTextModel(_hf_config(SD1.num_layers, "quick_gelu"))
    return {
        "cond_stage_model.transformer.text_model." + k: _random(*v.shape)
        for k, v in reference.state_dict().items()
    }


def _open_clip_checkpoint() -> dict[str, torch.Tensor]:
    """Random SD2 text weights in OpenCLIP's layout, as stored under `cond_stage_model.model.`."""
    sd = {
        "token_embedding.weight": _random(49408, WIDTH),
        "positional_embedding": _random(77, WIDTH),
        "ln_final.weight": 1 + _random(WIDTH),
        "ln_final.bias": _random(WIDTH),
        "text_projection": _random(WIDTH, WIDTH),
        "logit_scale": torch.tensor(4.6),
    }
    for i in range(LAYERS):
        block = f"transformer.resblocks.{i}."
        sd |= {
            block + "ln_1.weight": 1 + _random(WIDTH),
            block + "ln_1.bias": _random(WIDTH),
            block + "attn.in_proj_weight": _random(3 * WIDTH, WIDTH),
            block + "attn.in_proj_bias": _random(3 * WIDTH),
            block + "attn.out_proj.weight": _random(WIDTH, WIDTH),
            block + "attn.out_proj.bias": _random(WIDTH),
            block + "ln_2.weight": 1 + _random(WIDTH),
            block + "ln_2.bias": _random(WIDTH),
            block + "mlp.c_fc.weight": _random(MLP, WIDTH),
            block + "mlp.c_fc.bias": _random(MLP),
            block + "mlp.c_proj.weight": _random(WIDTH, MLP),
            block + "mlp.c_proj.bias": _random(WIDTH),
        }
    return {"cond_stage_model.model." + k: v for k, v in sd.items()}


def _hf_config(layers: int, act: str) -> CLIPTextConfig:
    return CLIPTextConfig(
        hidden_size=WIDTH,
        num_hidden_layers=layers,
        num_attention_heads=HEADS,
        intermediate_size=MLP,
        hidden_act=act,
        bos_token_id=49406,
        eos_token_id=49407,
    )


def _load_diffusers_style(converted: dict, layers: int, act: str) -> CLIPTextModel:
    # diffusers' converters emit transformers < 5.6 keys (`text_model.` prefix); drop what it skips too.
    keep = {
        k.removeprefix("text_model."): v
        for k, v in converted.items()
        if not k.startswith((f"text_model.encoder.layers.{layers}.", "text_projection"))
    }
    model = CLIPTextModel(_hf_config(layers, act))
    model.load_state_dict(keep, strict=True)
    return model.eval()


def _ours(checkpoint: dict, config: TextEncoderConfig) -> TextEncoder:
    stripped = {k.removeprefix("cond_stage_model."): v for k, v in checkpoint.items()}
    with torch.device("meta"):
        encoder = TextEncoder(config)
    encoder.load_state_dict(text_state_dict_from_checkpoint(stripped, config), strict=True, assign=True)
    return encoder.eval()


@pytest.fixture
def token_ids() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    body = torch.randint(0, 49406, (2, 20), generator=generator)
    ids = torch.full((2, 77), 49407)
    ids[:, 0], ids[:, 1:21] = 49406, body
    return ids


@torch.no_grad()
def test_sd1_clip_matches_diffusers(token_ids):
    torch.manual_seed(1)
    checkpoint = _sd1_checkpoint()
    reference = _load_diffusers_style(
        single_file_utils.convert_ldm_clip_checkpoint(checkpoint), LAYERS, "quick_gelu"
    )
    expected = reference(input_ids=token_ids).last_hidden_state
    got = _ours(checkpoint, SD1)(token_ids)
    assert got.shape == (2, 77, WIDTH)
    assert (got - expected).abs().max() <= 1e-4


@torch.no_grad()
def test_sd1_older_layout_without_text_model_loads_the_same(token_ids):
    torch.manual_seed(2)
    checkpoint = _sd1_checkpoint()
    older = {k.replace(".text_model.", "."): v for k, v in checkpoint.items()}
    older["cond_stage_model.transformer.embeddings.position_ids"] = torch.arange(77.0)[None] + 0.3
    assert torch.equal(_ours(older, SD1)(token_ids), _ours(checkpoint, SD1)(token_ids))


@torch.no_grad()
def test_sd2_open_clip_matches_diffusers_and_uses_the_penultimate_layer(token_ids):
    torch.manual_seed(3)
    checkpoint = _open_clip_checkpoint()
    text_model = CLIPTextModel(_hf_config(LAYERS - 1, "gelu"))
    converted = single_file_utils.convert_open_clip_checkpoint(
        text_model, checkpoint, prefix="cond_stage_model.model."
    )
    reference = _load_diffusers_style(converted, LAYERS - 1, "gelu")
    got = _ours(checkpoint, SD2)(token_ids)
    assert (got - reference(input_ids=token_ids).last_hidden_state).abs().max() <= 1e-4

    # The same through the full tower: penultimate hidden state, then the final LayerNorm.
    full = _load_diffusers_style(converted, LAYERS, "gelu")
    states = full(input_ids=token_ids, output_hidden_states=True).hidden_states
    assert (got - full.final_layer_norm(states[-2])).abs().max() <= 1e-4
    assert (got - full(input_ids=token_ids).last_hidden_state).abs().max() > 1e-2  # last layer differs


def test_meta_built_encoder_has_no_meta_tensors_after_loading():
    checkpoint = {k.removeprefix("cond_stage_model."): v for k, v in _open_clip_checkpoint().items()}
    with torch.device("meta"):
        holder = nn.ModuleDict({"cond_stage_model": TextEncoder(SD2)})  # loaded as part of a bigger model
    sd = {"cond_stage_model." + k: v for k, v in text_state_dict_from_checkpoint(checkpoint, SD2).items()}
    holder.load_state_dict(sd, strict=True, assign=True)
    assert not any(t.is_meta for t in [*holder.parameters(), *holder.buffers()])
    encoder = holder["cond_stage_model"].to(torch.float64)
    out = encoder(torch.tensor([[49406, 320, 2368, 49407] + [0] * 73]))
    assert out.dtype == torch.float64 and out.shape == (1, 77, WIDTH) and torch.isfinite(out).all()


@pytest.mark.parametrize("config", [SD1, SD2], ids=["clip", "open_clip"])
def test_round_trip_through_the_original_layout(config):
    torch.manual_seed(4)
    original = _sd1_checkpoint() if config.kind == "clip" else _open_clip_checkpoint()
    original = {k.removeprefix("cond_stage_model."): v for k, v in original.items()}
    ours = text_state_dict_from_checkpoint(original, config)
    written = text_state_dict_to_checkpoint(ours, config)
    # Everything written is the original tensor under its original name…
    assert written and all(torch.equal(written[k], original[k]) for k in written)
    # …and only what SD does not use (last layer of a penultimate tower, projection) is left out.
    left_out = set(original) - set(written)
    unused = {"model.text_projection", "model.logit_scale"}
    assert all(k in unused or f".resblocks.{LAYERS - 1}." in k for k in left_out)
    reread = text_state_dict_from_checkpoint(written, config)
    assert reread.keys() == ours.keys() and all(torch.equal(reread[k], ours[k]) for k in ours)
