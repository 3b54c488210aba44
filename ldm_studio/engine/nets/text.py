"""Text encoders that turn token ids into the UNet's context: SD1 CLIP, SD2 OpenCLIP and SDXL's CLIP-L and
OpenCLIP bigG, all on transformers' `CLIPTextModel`.

Our state dict keys are `transformer.` + the keys of transformers' CLIPTextModel (without `text_model.`),
plus `text_projection` [hidden, projection] (used as x @ P, OpenCLIP's layout) for a pooled encoder.
The checkpoint layouts (HF CLIP as in SD1 and SDXL's `conditioner.embedders.0.transformer.`, OpenCLIP as
in SD2 and SDXL's bigG `conditioner.embedders.{1|0}.model.`) are renamed to ours here and only here.
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
    """Layers actually built: the "penultimate" encoders stop one early, so the last layer is never run,
    unless the pooled vector (which reads the last layer) is wanted too."""
    return config.num_layers - 1 if config.layer == "penultimate" and not config.pooled else config.num_layers


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
    """Token ids [B, 77] → context [B, 77, hidden], and with `config.pooled` also the pooled vector.

    The context is the `layer` hidden state ("last" or "penultimate"), after the final LayerNorm when
    `final_norm` (SD1, SD2) or without it (SDXL). Without `pooled`, a penultimate encoder builds only N−1
    layers, so its last built layer is the one read (SD2: + final LN, as diffusers' 23-layer OpenCLIP).
    Pooled (SDXL bigG): ln_final(last layer output) at the first EOS (argmax of the ids, EOS being the
    highest id) @ text_projection.
    """

    def __init__(self, config: TextEncoderConfig):
        super().__init__()
        self.config = config
        model = CLIPTextModel(_clip_text_config(config))
        # transformers < 5.6 nests the tower under `text_model`; keep our keys the same either way.
        self.transformer = getattr(model, "text_model", model)
        if config.pooled:
            width = config.projection_dim or config.hidden_size
            self.text_projection = nn.Parameter(torch.empty(config.hidden_size, width))
        # `position_ids` is a non-persistent buffer: built on the meta device it would stay there after
        # load_state_dict(assign=True), since no checkpoint holds it. Recreate it after every load.
        self.register_load_state_dict_post_hook(_materialize_position_ids)

    def forward(
        self, input_ids: torch.Tensor, return_pooled: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The context [B, 77, hidden]; with `return_pooled`, (context, pooled [B, projection])."""
        config = self.config
        if return_pooled and not config.pooled:
            raise ValueError("this text encoder has no pooled output (config.pooled is False)")
        if config.final_norm and not config.pooled:
            return self.transformer(input_ids=input_ids).last_hidden_state
        out = self.transformer(input_ids=input_ids, output_hidden_states=True)
        # hidden_states: (embeddings, layer 1, ..., layer N), each before the final LayerNorm.
        reads_penultimate = config.layer == "penultimate" and config.pooled
        context = out.hidden_states[-2 if reads_penultimate else -1]
        if config.final_norm:
            context = self.transformer.final_layer_norm(context)
        if not return_pooled:
            return context
        eos = input_ids.to(out.last_hidden_state.device).argmax(dim=-1)
        rows = torch.arange(input_ids.shape[0], device=eos.device)
        pooled = out.last_hidden_state[rows, eos] @ self.text_projection
        return context, pooled


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


def _from_open_clip(sd: dict[str, torch.Tensor], layers: int, pooled: bool) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in sd.items():
        name = key.removeprefix("model.")
        if name == "text_projection" and pooled:
            out["text_projection"] = value  # [hidden, projection], applied as x @ P: no transpose
        elif name == "token_embedding.weight":
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
        # logit_scale and attn_mask (and text_projection unless pooled) do not condition the UNet.
    return out


def text_state_dict_from_checkpoint(sd: dict[str, torch.Tensor], config: TextEncoderConfig) -> dict:
    """Checkpoint keys (with `cond_stage_model.` stripped) → keys of `TextEncoder(config).state_dict()`.

    SD1 and SDXL's CLIP-L (`conditioner.embedders.0.` stripped): `transformer.text_model.*` or the older
    `transformer.*`. SD2 and SDXL's bigG (`conditioner.embedders.1.`, the refiner's `.0.`, stripped):
    OpenCLIP `model.*`, whose `model.text_projection` is kept for a pooled encoder.
    Keys the encoder does not use are dropped; missing ones are left for the strict load to report.
    """
    layers = built_layer_count(config)
    if config.kind == "open_clip":
        return _from_open_clip(sd, layers, config.pooled)
    return _from_clip(sd, layers)


def text_state_dict_to_checkpoint(sd: dict[str, torch.Tensor], config: TextEncoderConfig) -> dict:
    """`TextEncoder.state_dict()` → the original layout (keys without `cond_stage_model.`).

    Writes only what the encoder holds: a "penultimate" encoder without `pooled` has no last layer and no
    text_projection, and files written from it load back here (and in diffusers, which skips those too).
    """
    body = {
        k.removeprefix("transformer."): v
        for k, v in sd.items()
        if k.startswith("transformer.") and not k.endswith("position_ids")
    }
    if config.kind != "open_clip":
        return {"transformer.text_model." + name: value for name, value in body.items()}
    out = {
        "model.token_embedding.weight": body["embeddings.token_embedding.weight"],
        "model.positional_embedding": body["embeddings.position_embedding.weight"],
        "model.ln_final.weight": body["final_layer_norm.weight"],
        "model.ln_final.bias": body["final_layer_norm.bias"],
    }
    if "text_projection" in sd:
        out["model.text_projection"] = sd["text_projection"]
    for index in range(built_layer_count(config)):
        ours, theirs = f"encoder.layers.{index}.", f"model.transformer.resblocks.{index}."
        for kind in ("weight", "bias"):
            packed = [body[f"{ours}self_attn.{part}_proj.{kind}"] for part in "qkv"]
            out[f"{theirs}attn.in_proj_{kind}"] = torch.cat(packed, dim=0)
            for old, new in _OPEN_CLIP_LAYER_NAMES.items():
                out[f"{theirs}{old}{kind}"] = body[f"{ours}{new}{kind}"]
    return out
