"""The model families ldm_studio knows: their networks, how they are conditioned, and what they can do.

The table holds each family's full-size configs as released. A loaded file gets a copy whose network
configs were read from its own tensor shapes (`shapes.py`), so fine-tunes and the tiny test
models of a family share the family's rules (heads, text layer, schedule) but keep their own widths.

Config in a safetensors file's `__metadata__` under the key "ldm_studio_config" (a JSON string): how
the bundled demo models, and any model whose shapes do not tell enough, describe themselves.

    {"family": "demo-shapes",              # a name of ours; a known name (e.g. "sd2-v") takes its rules
     "label": "Demo: coloured shapes",
     "unet": {UNetConfig fields},          # each part: fields left out come from the detected family
     "vae": {AutoencoderConfig fields},    #   (or, when no family is detected, from the file's shapes)
     "text": {TextEncoderConfig fields} or null,   # null: no text encoder
     "prediction": "eps" | "v" | "x0",
     "conditioning": "crossattn" | "hybrid" | "concat",
     "linear_start": 0.00085, "linear_end": 0.012, "timesteps": 1000,
     "default_size": [w, h],
     "default_cfg_scale": 7.0,             # the guidance scale it draws best at; the app starts there
     "default_noise_level": 20,            # x4 upscalers: the input noise level it upscales best at
     "modes": ["txt2img", "img2img", "inpaint", "upscale"],
     "preview": "kl-f8" | "kl-f4" | "fitted",     # which latent -> RGB map live previews use
     "preview_rgb": [[r, g, b], ...]       # or the map itself, one row per latent channel
                                           #   (and optionally a last row: the bias)
    }

Every key is optional; an unknown key is an error, so a typo does not pass silently. An original LDM
YAML beside the checkpoint is turned into the same form by `yaml_config.py`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Literal

from ldm_studio.engine.nets.configs import AutoencoderConfig, TextEncoderConfig, UNetConfig, from_mapping
from ldm_studio.engine.requests import DEFAULT_NOISE_LEVEL, MODES
from ldm_studio.engine.validation import MAX_NOISE_LEVEL

METADATA_KEY = "ldm_studio_config"
# x0: the UNet predicts the clean latent itself (CompVis "x0" parameterization, diffusers' "sample").
PREDICTIONS = ("eps", "v", "x0")
CONDITIONINGS = ("crossattn", "hybrid", "concat")
MAX_CFG_SCALE = 50.0  # as far as the GUI's guidance field goes


@dataclass(frozen=True)
class Family:
    """A kind of model: its networks and everything a pipeline needs to drive them."""

    name: str
    label: str  # for humans, e.g. in the status bar
    unet: UNetConfig
    vae: AutoencoderConfig
    text: TextEncoderConfig | None  # None: no text conditioning
    prediction: Literal["eps", "v", "x0"]
    # crossattn: text context only; hybrid: context + channels concatenated to the latent (9-channel
    # inpainting: mask and masked-image latent; x4: the noised low-res image, plus `y` = noise level);
    # concat: channels only (CompVis LDM super-resolution and inpainting).
    conditioning: Literal["crossattn", "hybrid", "concat"]
    linear_start: float  # CompVis "linear" betas: linspace(sqrt(start), sqrt(end), timesteps) ** 2
    linear_end: float
    timesteps: int
    modes: tuple[str, ...]  # what the GUI offers for this model
    default_size: tuple[int, int]  # (width, height) in pixels of the images it was trained on
    # latent -> RGB map for live previews: "kl-f8", "kl-f4", "sdxl", or "fitted" (least squares)
    preview: str
    preview_rgb: tuple[tuple[float, ...], ...] | None = None  # an explicit map, rows = latent channels
    # The guidance scale the GUI and CLI start from: the one its makers recommend (a small model
    # trained on few captions overshoots its colours at SD's 7).
    default_cfg_scale: float = 7.0
    # The x4 upscaler's noise augmentation the GUI and CLI start from: SD's 20 hides a real photo's
    # flaws; an upscaler trained on clean renders is most faithful at 0.
    default_noise_level: int = DEFAULT_NOISE_LEVEL
    # SDXL base / inpaint: the second text tower (OpenCLIP bigG, with the pooled projection); its context
    # is concatenated after `text`'s. The refiner has bigG alone, as `text`. None for every other family.
    text2: TextEncoderConfig | None = None
    # The betas rescaled so ᾱ_T = 0 (zero terminal SNR, Lin et al. 2023; a `ztsnr` key in SDXL v-pred files)
    zero_terminal_snr: bool = False

    @property
    def is_sdxl(self) -> bool:
        """SDXL's conditioning: the context of one or two towers and the vector `y` (pooled + micro)."""
        return self.unet.num_classes == "sequential"

    @property
    def pooled_text(self) -> TextEncoderConfig | None:
        """The tower whose pooled projection feeds SDXL's `y` (bigG): `text2`, or the refiner's `text`."""
        for config in (self.text2, self.text):
            if config is not None and config.pooled:
                return config
        return None


_SD_BETAS = {"linear_start": 0.00085, "linear_end": 0.012, "timesteps": 1000}
_SD1_UNET = UNetConfig(legacy=False)  # the dataclass defaults are SD 1.x
_SD2_UNET = UNetConfig(
    num_heads=-1, num_head_channels=64, context_dim=1024, use_linear_in_transformer=True, legacy=False
)
_KL_F8 = AutoencoderConfig()
_KL_F4 = AutoencoderConfig(scale_factor=0.08333, ch_mult=(1, 2, 4))
_VQ_F4 = AutoencoderConfig(
    kind="vq", embed_dim=3, scale_factor=1.0, n_embed=8192, double_z=False, z_channels=3, ch_mult=(1, 2, 4)
)
_CLIP_L = TextEncoderConfig()
_OPEN_CLIP_H = TextEncoderConfig(
    kind="open_clip",
    hidden_size=1024,
    num_layers=24,
    num_heads=16,
    intermediate_size=4096,
    hidden_act="gelu",
    layer="penultimate",
    pad_token_id=0,
)
# SDXL (docs/MODEL_FACTS.md): CLIP-L and bigG both read at the penultimate layer without the final LayerNorm;
# bigG's pooled projection and the micro-conditioning make the vector `y` (label_emb.0).
_SDXL_CLIP_L = TextEncoderConfig(layer="penultimate", final_norm=False)
_SDXL_BIGG = TextEncoderConfig(
    kind="open_clip",
    hidden_size=1280,
    num_layers=32,
    num_heads=20,
    intermediate_size=5120,
    hidden_act="gelu",
    layer="penultimate",
    pad_token_id=0,
    final_norm=False,
    pooled=True,
    projection_dim=1280,
)
_SDXL_UNET = UNetConfig(
    model_channels=320, channel_mult=(1, 2, 4), attention_resolutions=(4, 2), num_heads=-1,
    num_head_channels=64, context_dim=2048, use_linear_in_transformer=True, transformer_depth=(0, 2, 10),
    num_classes="sequential", adm_in_channels=2816, legacy=False,
)  # fmt: skip
_SDXL_REFINER_UNET = dataclasses.replace(
    _SDXL_UNET, model_channels=384, channel_mult=(1, 2, 4, 4), context_dim=1280, transformer_depth=4,
    adm_in_channels=2560,
)  # fmt: skip
_SDXL_VAE = AutoencoderConfig(scale_factor=0.13025)
SDXL_SIZE = (1024, 1024)
# 9-channel inpainting models also do txt2img and img2img, as in A1111: the pipeline passes a mask of
# ones (repaint everything) and the latent of an all-zero (grey) masked image.
_ALL_SD_MODES = ("txt2img", "img2img", "inpaint")

KNOWN_FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "sd1", "Stable Diffusion 1.x", _SD1_UNET, _KL_F8, _CLIP_L, "eps", "crossattn",
            **_SD_BETAS, modes=_ALL_SD_MODES, default_size=(512, 512), preview="kl-f8",
        ),
        Family(
            "sd1-inpaint", "Stable Diffusion 1.x inpainting", dataclasses.replace(_SD1_UNET, in_channels=9),
            _KL_F8, _CLIP_L, "eps", "hybrid",
            **_SD_BETAS, modes=_ALL_SD_MODES, default_size=(512, 512), preview="kl-f8",
        ),
        Family(
            "sd2", "Stable Diffusion 2.x (eps)", _SD2_UNET, _KL_F8, _OPEN_CLIP_H, "eps", "crossattn",
            **_SD_BETAS, modes=_ALL_SD_MODES, default_size=(512, 512), preview="kl-f8",
        ),
        Family(
            "sd2-v", "Stable Diffusion 2.x (v-prediction)", _SD2_UNET, _KL_F8, _OPEN_CLIP_H, "v", "crossattn",
            **_SD_BETAS, modes=_ALL_SD_MODES, default_size=(768, 768), preview="kl-f8",
        ),
        Family(
            "sd2-inpaint", "Stable Diffusion 2.x inpainting", dataclasses.replace(_SD2_UNET, in_channels=9),
            _KL_F8, _OPEN_CLIP_H, "eps", "hybrid",
            **_SD_BETAS, modes=_ALL_SD_MODES, default_size=(512, 512), preview="kl-f8",
        ),
        Family(
            "sd-x4-upscaler", "Stable Diffusion x4 upscaler",
            UNetConfig(
                in_channels=7, model_channels=256, channel_mult=(1, 2, 2, 4), attention_resolutions=(2, 4, 8),
                context_dim=1024, use_linear_in_transformer=True,
                disable_self_attentions=(True, True, True, False), num_classes=1000, legacy=False,
            ),
            _KL_F4, _OPEN_CLIP_H, "v", "hybrid", linear_start=0.0001, linear_end=0.02, timesteps=1000,
            modes=("upscale",), default_size=(512, 512), preview="kl-f4", default_cfg_scale=9.0,
        ),
        Family(
            "ldm-bsr", "CompVis LDM 4x super-resolution (BSR)",
            UNetConfig(
                in_channels=6, out_channels=3, model_channels=160, channel_mult=(1, 2, 2, 4),
                attention_resolutions=(16, 8), num_heads=-1, num_head_channels=32,
                use_spatial_transformer=False, context_dim=None,
            ),
            _VQ_F4, None, "eps", "concat", linear_start=0.0015, linear_end=0.0155, timesteps=1000,
            modes=("upscale",), default_size=(256, 256), preview="fitted",
        ),
        Family(
            "ldm-inpaint", "CompVis LDM inpainting (big)",
            UNetConfig(
                in_channels=7, out_channels=3, model_channels=256, channel_mult=(1, 2, 3, 4),
                attention_resolutions=(8, 4, 2), num_heads=8, use_spatial_transformer=False,
                context_dim=None, resblock_updown=True,
            ),
            dataclasses.replace(_VQ_F4, attn_type="none"), None, "eps", "concat",
            linear_start=0.0015, linear_end=0.0205, timesteps=1000,
            modes=("inpaint",), default_size=(512, 512), preview="fitted",
        ),
        Family(
            "sdxl", "SDXL base", _SDXL_UNET, _SDXL_VAE, _SDXL_CLIP_L, "eps", "crossattn", **_SD_BETAS,
            modes=_ALL_SD_MODES, default_size=SDXL_SIZE, preview="sdxl", text2=_SDXL_BIGG,
        ),
        Family(
            "sdxl-inpaint", "SDXL inpainting", dataclasses.replace(_SDXL_UNET, in_channels=9), _SDXL_VAE,
            _SDXL_CLIP_L, "eps", "hybrid", **_SD_BETAS, modes=_ALL_SD_MODES, default_size=SDXL_SIZE,
            preview="sdxl", text2=_SDXL_BIGG,
        ),
        # The refiner is meant to finish a base model's image (img2img at low strength or the hand-off);
        # it can start from noise too.
        Family(
            "sdxl-refiner", "SDXL refiner", _SDXL_REFINER_UNET, _SDXL_VAE, _SDXL_BIGG, "eps", "crossattn",
            **_SD_BETAS, modes=_ALL_SD_MODES, default_size=SDXL_SIZE, preview="sdxl",
        ),
    )
}  # fmt: skip


def with_prediction(family: Family, prediction: str) -> Family:
    """`family` predicting `prediction`; SD 2.x switches between its "sd2" and "sd2-v" entries."""
    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction must be one of {', '.join(PREDICTIONS)}, not {prediction!r}")
    if family.name in ("sd2", "sd2-v"):
        known = KNOWN_FAMILIES["sd2-v" if prediction == "v" else "sd2"]
        return dataclasses.replace(
            family, name=known.name, label=known.label, default_size=known.default_size, prediction=prediction
        )
    if family.is_sdxl:
        base = KNOWN_FAMILIES.get(family.name, family).label
        label = f"{base} (v-prediction)" if prediction == "v" else base
        return dataclasses.replace(family, prediction=prediction, label=label)
    return dataclasses.replace(family, prediction=prediction)


def family_to_json(family: Family) -> str:
    """The "ldm_studio_config" metadata string that describes `family` completely."""
    values = dataclasses.asdict(family)
    values["family"] = values.pop("name")
    if values["preview_rgb"] is None:
        del values["preview_rgb"]
    return json.dumps(values)


_TOP_KEYS = {
    "family", "label", "unet", "vae", "text", "prediction", "conditioning", "linear_start", "linear_end",
    "timesteps", "default_size", "modes", "preview", "preview_rgb", "default_cfg_scale",
    "default_noise_level", "text2", "zero_terminal_snr",
}  # fmt: skip
# Top-level keys read as their field's own type (str, float or int).
_SCALAR_KEYS = (
    "label",
    "linear_start",
    "linear_end",
    "timesteps",
    "default_cfg_scale",
    "default_noise_level",
)


def apply_config(base: Family, values: dict[str, Any]) -> Family:
    """`base` with the fields of a "ldm_studio_config" mapping (or a converted YAML) laid over it.

    Raises ValueError saying which field is wrong; callers add the file name.
    """
    unknown = sorted(set(values) - _TOP_KEYS)
    if unknown:
        raise ValueError(f"unknown config field(s) {', '.join(unknown)}")
    name = values.get("family")
    if name in KNOWN_FAMILIES and name != base.name:
        base = fit_to_family(KNOWN_FAMILIES[name], base.unet, base.vae, base.text, base.text2)
    if "prediction" in values:  # before the rest: SD 2.x moves between "sd2" and "sd2-v" with it
        base = with_prediction(base, _choice(values["prediction"], PREDICTIONS, "prediction"))
    changes: dict[str, Any] = {}
    if name is not None and name not in KNOWN_FAMILIES:
        changes["name"] = str(name)
    for part, cls, current in (
        ("unet", UNetConfig, base.unet),
        ("vae", AutoencoderConfig, base.vae),
        ("text", TextEncoderConfig, base.text),
        ("text2", TextEncoderConfig, base.text2),
    ):
        if part in values:
            changes[part] = _merge(cls, current, values[part], part)
    for key in _SCALAR_KEYS:
        if key in values:
            changes[key] = type(getattr(base, key))(values[key])
    if not 0 <= changes.get("default_cfg_scale", 0) <= MAX_CFG_SCALE:
        raise ValueError(f'"default_cfg_scale" must be 0 to {MAX_CFG_SCALE:g}')
    if not 0 <= changes.get("default_noise_level", 0) <= MAX_NOISE_LEVEL:
        raise ValueError(f'"default_noise_level" must be 0 to {MAX_NOISE_LEVEL}')
    if "zero_terminal_snr" in values:
        changes["zero_terminal_snr"] = bool(values["zero_terminal_snr"])
    if "conditioning" in values:
        changes["conditioning"] = _choice(values["conditioning"], CONDITIONINGS, "conditioning")
    if "modes" in values:
        changes["modes"] = tuple(_choice(m, MODES, "modes") for m in values["modes"])
    if "default_size" in values:
        width, height = (int(v) for v in values["default_size"])
        changes["default_size"] = (width, height)
    if "preview" in values:
        changes["preview"] = str(values["preview"])
    if values.get("preview_rgb") is not None:
        changes["preview_rgb"] = tuple(tuple(float(v) for v in row) for row in values["preview_rgb"])
        changes.setdefault("preview", "custom")
    return dataclasses.replace(base, **changes)


def _merge(cls: type, current: Any, update: dict[str, Any] | None, part: str) -> Any:
    if update is None:
        if cls is TextEncoderConfig:
            return None
        raise ValueError(f'"{part}" cannot be null')
    if not isinstance(update, dict):
        raise ValueError(f'"{part}" must be an object of {cls.__name__} fields')
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(update) - names)
    if unknown:
        raise ValueError(f'unknown "{part}" field(s) {", ".join(unknown)}')
    start = dataclasses.asdict(current) if current is not None else {}
    return from_mapping(cls, {**start, **update})


def fit_to_family(
    family: Family,
    unet: UNetConfig,
    vae: AutoencoderConfig,
    text: TextEncoderConfig | None,
    text2: TextEncoderConfig | None = None,
) -> Family:
    """`family` with configs read from a file's shapes, plus the family rules shapes cannot tell:
    attention heads, the text towers' activation / layer / padding / final norm / pooling, the latent
    scale factor."""
    unet = dataclasses.replace(
        unet,
        num_heads=family.unet.num_heads,
        num_head_channels=family.unet.num_head_channels,
        legacy=family.unet.legacy,
    )
    vae = dataclasses.replace(vae, scale_factor=family.vae.scale_factor)
    text = _fit_text(text, family.text)
    text2 = _fit_text(text2, family.text2)
    return dataclasses.replace(family, unet=unet, vae=vae, text=text, text2=text2)


def _fit_text(text: TextEncoderConfig | None, rules: TextEncoderConfig | None) -> TextEncoderConfig | None:
    if text is None or rules is None:
        return text
    changes = {"hidden_act": rules.hidden_act, "layer": rules.layer, "pad_token_id": rules.pad_token_id}
    if rules.pooled or not rules.final_norm:  # SDXL's rules; SD 1.x / 2.x configs stay as they were
        changes |= {"final_norm": rules.final_norm, "pooled": rules.pooled}
    return dataclasses.replace(text, **changes)


def _choice(value: Any, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(f'"{what}" must be one of {", ".join(allowed)}, not {value!r}')
    return value
