"""diffusers' ControlNetModel from one of our tiny original-layout ControlNets (test-only reference).

The tensors go through diffusers' own `convert_controlnet_checkpoint` with the config made by
the keys `create_controlnet_diffusers_config_from_ldm` takes
from the UNet config; nothing here reads our networks. diffusers' converter does
not carry SDXL's `label_emb` (it maps only the plain layers), so those four tensors are renamed here by the
same table diffusers uses for the UNet (`add_embedding.linear_{1,2}` = `label_emb.0.{0,2}`).
"""

from __future__ import annotations

from diffusers import ControlNetModel
from diffusers.loaders import single_file_utils as convert

from ldm_studio.engine.nets.configs import ControlNetConfig
from tests.engine.reference_convert import original_config

_ADD_EMBEDDING = {
    "add_embedding.linear_1.weight": "label_emb.0.0.weight",
    "add_embedding.linear_1.bias": "label_emb.0.0.bias",
    "add_embedding.linear_2.weight": "label_emb.0.2.weight",
    "add_embedding.linear_2.bias": "label_emb.0.2.bias",
}


_CONFIG_KEYS = (
    "in_channels", "down_block_types", "block_out_channels", "layers_per_block", "cross_attention_dim",
    "attention_head_dim", "use_linear_projection", "class_embed_type", "addition_embed_type",
    "addition_time_embed_dim", "projection_class_embeddings_input_dim", "transformer_layers_per_block",
)  # fmt: skip


def diffusers_config(config: ControlNetConfig, state_dict: dict) -> dict:
    original = original_config(config.unet)
    original["model"]["params"]["control_stage_config"] = {"params": {"hint_channels": config.hint_channels}}
    checkpoint = {"control_model." + k: v for k, v in state_dict.items()}
    # create_controlnet_diffusers_config_from_ldm calls the UNet config creator without its checkpoint
    # argument in diffusers 0.42.1 (a TypeError), so its few lines are repeated here.
    unet = convert.create_unet_diffusers_config_from_ldm(original, checkpoint)
    cn_config = {key: unet[key] for key in _CONFIG_KEYS}
    cn_config["conditioning_channels"] = config.hint_channels
    if config.unet.num_head_channels != -1:
        cn_config["attention_head_dim"] = [
            max(1, ch // config.unet.num_head_channels) for ch in cn_config["block_out_channels"]
        ]
    if config.unet.num_classes == "sequential":
        cn_config.update(
            class_embed_type=None,
            addition_embed_type="text_time",
            addition_time_embed_dim=256,
            projection_class_embeddings_input_dim=config.unet.adm_in_channels,
        )
    return cn_config


def diffusers_controlnet(config: ControlNetConfig, state_dict: dict) -> ControlNetModel:
    """ControlNetModel with the weights of `state_dict` (original keys, `control_model.` stripped)."""
    cn_config = diffusers_config(config, state_dict)
    checkpoint = {"control_model." + k: v.detach().clone() for k, v in state_dict.items()}
    converted = convert.convert_controlnet_checkpoint(checkpoint, cn_config)
    for theirs, ours in _ADD_EMBEDDING.items():
        if ours in state_dict:
            converted[theirs] = state_dict[ours].detach().clone()
    assert len(converted) == len(state_dict), "the converter skipped tensors"
    model = ControlNetModel(**cn_config)
    model.load_state_dict(converted, strict=True)
    return model.eval()
