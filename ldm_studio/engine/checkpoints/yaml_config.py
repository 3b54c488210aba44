"""An original CompVis / Stability config YAML beside a checkpoint (`model.yaml` next to `model.ckpt`).

Users keep these next to v-prediction and other unusual models, as A1111 taught them. The YAML is
turned into the "ldm_studio_config" form of `families.py`, so both sources go through one merge.
Only `model.params` is read; targets are only looked at as names, nothing is imported or run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ldm_studio.engine.errors import CheckpointError

# The original UNetModel's own defaults, for keys a YAML leaves out (they differ from our SD 1.x defaults).
_UNET_DEFAULTS = {
    "num_heads": -1,
    "num_head_channels": -1,
    "use_spatial_transformer": False,
    "context_dim": None,
    "use_linear_in_transformer": False,
    "transformer_depth": 1,
    "disable_self_attentions": None,
    "num_classes": None,
    "resblock_updown": False,
    "legacy": True,
    "attention_resolutions": (),
}
_DDCONFIG_KEYS = (
    "double_z", "z_channels", "resolution", "in_channels", "out_ch", "ch", "ch_mult", "num_res_blocks",
    "attn_resolutions",
)  # fmt: skip


def yaml_beside(checkpoint: Path) -> Path | None:
    """`model.yaml` (or `.yml`) next to `model.safetensors`, if there is one."""
    for suffix in (".yaml", ".yml"):
        candidate = checkpoint.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def config_from_yaml(path: Path) -> dict[str, Any]:
    """The YAML's model settings as an "ldm_studio_config" mapping (see families.py)."""
    import yaml

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        params = document["model"]["params"]
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError):
        raise CheckpointError(f"{path.name} is not an LDM config: it has no model.params section") from None
    if "network_config" in params:
        return _from_sgm(params)
    parameterization = params.get("parameterization", "eps")
    config: dict[str, Any] = {"prediction": parameterization if parameterization in ("v", "x0") else "eps"}
    for key in ("linear_start", "linear_end", "timesteps"):
        if key in params:
            config[key] = params[key]
    config["conditioning"] = _conditioning(params)
    unet = (params.get("unet_config") or {}).get("params")
    if unet:
        config["unet"] = {**_UNET_DEFAULTS, **{k: v for k, v in unet.items() if k in _UNET_KEYS}}
    first_stage = params.get("first_stage_config") or {}
    stage_params = first_stage.get("params") or {}
    if stage_params:
        ddconfig = stage_params.get("ddconfig") or {}
        vae = {k: ddconfig[k] for k in _DDCONFIG_KEYS if k in ddconfig}
        vae["kind"] = "vq" if "VQ" in str(first_stage.get("target", "")) else "kl"
        for key in ("embed_dim", "n_embed"):
            if key in stage_params:
                vae[key] = stage_params[key]
        if "scale_factor" in params:
            vae["scale_factor"] = params["scale_factor"]
        config["vae"] = vae
    cond = params.get("cond_stage_config")
    if isinstance(cond, dict):
        layer = (cond.get("params") or {}).get("layer")
        if layer in ("last", "penultimate"):
            config["text"] = {"layer": layer}
    return config


def _from_sgm(params: dict[str, Any]) -> dict[str, Any]:
    """Stability's sgm YAML (SDXL: `network_config`, `conditioner_config`, `denoiser_config`): only what
    the shapes cannot tell is read, the prediction from the denoiser's scaling class (`VScaling…` is v)
    and the latent scale factor; the networks and their conditioning come from the tensors."""
    config: dict[str, Any] = {}
    denoiser = params.get("denoiser_config") or {}
    scaling = str(((denoiser.get("params") or {}).get("scaling_config") or {}).get("target", ""))
    if scaling:
        config["prediction"] = "v" if scaling.rsplit(".", 1)[-1].startswith("VScaling") else "eps"
    if "scale_factor" in params:
        config["vae"] = {"scale_factor": params["scale_factor"]}
    return config


_UNET_KEYS = (
    "in_channels", "out_channels", "model_channels", "channel_mult", "num_res_blocks",
    "attention_resolutions", *_UNET_DEFAULTS,
)  # fmt: skip


def _conditioning(params: dict[str, Any]) -> str:
    key = params.get("conditioning_key")
    if key in ("hybrid", "hybrid-adm"):
        return "hybrid"  # "-adm": the class label `y` (x4 noise level) rides along; the UNet has num_classes
    if key is None:  # the original LatentDiffusion's default: concat_mode=True
        return "concat" if params.get("concat_mode", True) else "crossattn"
    return "concat" if key == "concat" else "crossattn"
