"""Text encoders that turn token ids into the UNet's context: SD1 CLIP and SD2 OpenCLIP, both on
transformers' `CLIPTextModel`.

Our state dict keys are `transformer.` + the keys of transformers' CLIPTextModel (without `text_model.`).
The two checkpoint layouts (SD1 CLIP, SD2 OpenCLIP) are renamed to ours here and only here.
"""

from __future__ import annotations

import re

import torch
from torch import nn
from transformers import CLIPTextConfig, CLIPTextModel

from ldm_studio.engine.nets.configs import TextEncoderConfig

BOS_TOKEN_ID = 49406
EOS_TOKEN_ID = 49407
# May stay in the file's half precision when the encoder runs in float32 on the CPU (checkpoint._to):
# the token embedding is looked up a prompt's 77 rows at a time, and adding the float32 position
# embedding turns them into float32, exactly (every half value is a float32 one).
HALF_KEPT_KEYS = frozenset({"transformer.embeddings.token_embedding.weight"})


def built_layer_count(config: TextEncoderConfig) -> int:
    """Layers actually built: the "penultimate" encoders stop one early, so the last layer is never run."""
    return config.num_layers - 1 if config.layer == "penultimate" else config.num_layers


def _clip_text_config(config: TextEncoderConfig) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=built_layer_count(config),
        num_attention_heads=config.num_heads,
        max_position_embeddings=config.max_positions,
        hidden_act=config.hidden_act,
        layer_norm_eps=1e-5,  # CLIP and OpenCLIP both use torch's default
        bos_token_id=BOS_TOKEN_ID,
        eos_token_id=EOS_TOKEN_ID,
        pad_token_id=config.pad_token_id,
    )


class TextEncoder(nn.Module):
    """Token ids [B, 77] → context [B, 77, hidden]: the last built layer's output after the final LayerNorm.

    With `layer="penultimate"` only N−1 layers exist, so that output is the penultimate layer + final LN,
    exactly what SD2 (and diffusers' 23-layer OpenCLIP) uses.
    """

    def __init__(self, config: TextEncoderConfig):
        super().__init__()
        self.config = config
        model = CLIPTextModel(_clip_text_config(config))
        # transformers < 5.6 nests the tower under `text_model`; keep our keys the same either way.
        self.transformer = getattr(model, "text_model", model)
        # `position_ids` is a non-persistent buffer: built on the meta device it would stay there after
        # load_state_dict(assign=True), since no checkpoint holds it. Recreate it after every load.
        self.register_load_state_dict_post_hook(_materialize_position_ids)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.transformer(input_ids=input_ids).last_hidden_state


def _materialize_position_ids(module: TextEncoder, _incompatible_keys) -> None:
    embeddings = module.transformer.embeddings
    device = embeddings.position_embedding.weight.device
    embeddings.position_ids = torch.arange(module.config.max_positions, device=device)[None]


# OpenCLIP resblock names → transformers CLIP layer names.
_OPEN_CLIP_LAYER_NAMES = {
    "ln_1.": "layer_norm1.",
    "ln_2.": "layer_norm2.",
    "mlp.c_fc.": "mlp.fc1.",
    "mlp.c_proj.": "mlp.fc2.",
    "attn.out_proj.": "self_attn.out_proj.",
}
_LAYER_INDEX = re.compile(r"^(?:encoder\.layers|transformer\.resblocks)\.(\d+)\.")


def _wanted(name: str, layers: int) -> bool:
    """False for layers past the ones we build (the unused last layer of a penultimate encoder)."""
    match = _LAYER_INDEX.match(name)
    return match is None or int(match.group(1)) < layers


def _from_clip(sd: dict[str, torch.Tensor], layers: int) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in sd.items():
        if not key.startswith("transformer."):
            continue
        name = key.removeprefix("transformer.").removeprefix("text_model.")  # older files lack text_model.
        # position_ids is a constant we make ourselves (some files even hold it as corrupted floats).
        if name.endswith("position_ids") or not _wanted(name, layers):
            continue
        if name.startswith(("embeddings.", "encoder.", "final_layer_norm.")):
            out["transformer." + name] = value
    return out


def _from_open_clip(sd: dict[str, torch.Tensor], layers: int) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in sd.items():
        name = key.removeprefix("model.")
        if name == "token_embedding.weight":
            out["transformer.embeddings.token_embedding.weight"] = value
        elif name == "positional_embedding":
            out["transformer.embeddings.position_embedding.weight"] = value
        elif name.startswith("ln_final."):
            out["transformer.final_layer_norm." + name.removeprefix("ln_final.")] = value
        elif name.startswith("transformer.resblocks.") and _wanted(name, layers):
            index, rest = name.removeprefix("transformer.resblocks.").split(".", 1)
            prefix = f"transformer.encoder.layers.{index}."
            if rest in ("attn.in_proj_weight", "attn.in_proj_bias"):
                # One packed projection: rows [0:d] query, [d:2d] key, [2d:3d] value.
                kind = rest.rsplit("_", 1)[1]
                for part, chunk in zip("qkv", value.chunk(3, dim=0), strict=True):
                    out[f"{prefix}self_attn.{part}_proj.{kind}"] = chunk
            else:
                for old, new in _OPEN_CLIP_LAYER_NAMES.items():
                    if rest.startswith(old):
                        out[prefix + new + rest.removeprefix(old)] = value
        # text_projection, logit_scale and attn_mask are not used to condition the UNet.
    return out


def text_state_dict_from_checkpoint(sd: dict[str, torch.Tensor], config: TextEncoderConfig) -> dict:
    """Checkpoint keys (with `cond_stage_model.` stripped) → keys of `TextEncoder(config).state_dict()`.

    SD1: `transformer.text_model.*` or the older `transformer.*`. SD2: OpenCLIP `model.*`.
    Keys SD does not use are dropped; missing ones are left for the strict load to report.
    """
    layers = built_layer_count(config)
    if config.kind == "open_clip":
        return _from_open_clip(sd, layers)
    return _from_clip(sd, layers)


def text_state_dict_to_checkpoint(sd: dict[str, torch.Tensor], config: TextEncoderConfig) -> dict:
    """`TextEncoder.state_dict()` → the original layout (keys without `cond_stage_model.`).

    Writes only what the encoder holds: a "penultimate" encoder has no last layer and no text_projection,
    and files written from it load back here (and in diffusers, which skips those too).
    """
    body = {k.removeprefix("transformer."): v for k, v in sd.items() if not k.endswith("position_ids")}
    if config.kind != "open_clip":
        return {"transformer.text_model." + name: value for name, value in body.items()}
    out = {
        "model.token_embedding.weight": body["embeddings.token_embedding.weight"],
        "model.positional_embedding": body["embeddings.position_embedding.weight"],
        "model.ln_final.weight": body["final_layer_norm.weight"],
        "model.ln_final.bias": body["final_layer_norm.bias"],
    }
    for index in range(built_layer_count(config)):
        ours, theirs = f"encoder.layers.{index}.", f"model.transformer.resblocks.{index}."
        for kind in ("weight", "bias"):
            packed = [body[f"{ours}self_attn.{part}_proj.{kind}"] for part in "qkv"]
            out[f"{theirs}attn.in_proj_{kind}"] = torch.cat(packed, dim=0)
            for old, new in _OPEN_CLIP_LAYER_NAMES.items():
                out[f"{theirs}{old}{kind}"] = body[f"{ours}{new}{kind}"]
    return out
