"""Network configs and the model family, read from tensor names and shapes alone (docs/MODEL_FACTS.md).

Widths (model channels, context size, text width) are read, not matched against known values, so a
tiny test model of a family is told apart by the same features as the real one:
- UNet input channels (`input_blocks.0.0.weight`): 4 txt2img, 9 SD inpainting, 7 x4 / LDM inpainting,
  6 LDM super-resolution;
- `label_emb` (noise-level embedding: the x4 upscaler); `quantize.embedding` (a VQ first stage);
- the text tower's key layout: `cond_stage_model.transformer.*` is CLIP (SD 1.x),
  `cond_stage_model.model.*` is OpenCLIP (SD 2.x and the x4 upscaler);
- spatial transformers (cross-attention) versus the legacy AttentionBlock of the CompVis LDM models.
What shapes cannot tell (attention heads, which text layer, eps or v) comes from the family's rules.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from ldm_studio.engine.checkpoints.families import KNOWN_FAMILIES, Family, fit_to_family
from ldm_studio.engine.nets.configs import AutoencoderConfig, TextEncoderConfig, UNetConfig

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_PREFIX = "cond_stage_model."
# SDXL (sgm) keeps its text towers under `conditioner.embedders.N.`: the base has CLIP-L at 0 (HF layout,
# `transformer.text_model.*`) and OpenCLIP bigG at 1 (`model.*`); the refiner only bigG, at 0.
SDXL_TEXT_PREFIXES = ("conditioner.embedders.0.", "conditioner.embedders.1.")
SDXL_MICRO_DIM = 256  # one sinusoidal embedding per micro-conditioning scalar
EMA_PREFIX = "model_ema."
VAE_RESOLUTION = 256  # the original configs' `resolution`; attention levels are stated relative to it

Shapes = Mapping[str, tuple[int, ...]]

EXPECTED = (
    "sd1 (4-channel UNet, CLIP text), sd1-inpaint (9, CLIP), sd2 / sd2-v (4, OpenCLIP), sd2-inpaint "
    "(9, OpenCLIP), sd-x4-upscaler (7 + label_emb, OpenCLIP), ldm-bsr (6, VQ), ldm-inpaint (7, VQ), "
    "sdxl / sdxl-inpaint (4 / 9 + label_emb.0, CLIP-L + bigG), sdxl-refiner (4 + label_emb.0, bigG)"
)


class ShapeError(ValueError):
    """The shapes do not make a known family; the message says what was found (callers add the file)."""


def strip_prefix(shapes: Shapes, prefix: str) -> dict[str, tuple[int, ...]]:
    return {k[len(prefix) :]: v for k, v in shapes.items() if k.startswith(prefix)}


def detect_family(shapes: Shapes) -> Family:
    """The known family whose features the checkpoint's shapes show, with configs read from them."""
    unet_sd = strip_prefix(shapes, UNET_PREFIX)
    if not unet_sd:
        raise ShapeError(_no_unet_message(shapes))
    unet = unet_config_from_shapes(unet_sd)
    vae_sd = strip_prefix(shapes, VAE_PREFIX)
    if not vae_sd:
        raise ShapeError("it has a UNet but no first-stage (VAE) weights (first_stage_model.*)")
    vae = vae_config_from_shapes(vae_sd)
    if unet.num_classes == "sequential":
        return _detect_sdxl(shapes, unet, vae)
    text_sd = strip_prefix(shapes, TEXT_PREFIX)
    layout = text_layout(text_sd)
    name = _family_name(unet, vae, layout)
    if name is None:
        raise ShapeError(
            f"unknown model family: found {describe_shapes(shapes)}; expected one of: {EXPECTED}"
        )
    text = text_config_from_shapes(text_sd) if KNOWN_FAMILIES[name].text is not None else None
    return fit_to_family(KNOWN_FAMILIES[name], unet, vae, text)


def sdxl_text_parts(shapes: Shapes) -> list[tuple[str, str]]:
    """(prefix, layout) of each SDXL text tower present, in embedder order."""
    parts = []
    for prefix in SDXL_TEXT_PREFIXES:
        layout = text_layout(strip_prefix(shapes, prefix))
        if layout is not None:
            parts.append((prefix, layout))
    return parts


def _detect_sdxl(shapes: Shapes, unet: UNetConfig, vae: AutoencoderConfig) -> Family:
    """SDXL base / inpaint (CLIP-L + bigG) or refiner (bigG only), told by the towers, the context width
    (the towers' widths summed) and the adm width (bigG width + 6 or 5 micro-conditioning embeddings)."""
    towers = sdxl_text_parts(shapes)
    layouts = tuple(layout for _, layout in towers)
    if layouts == ("clip", "open_clip"):
        name = {4: "sdxl", 9: "sdxl-inpaint"}.get(unet.in_channels)
        micro = 6
    elif layouts == ("open_clip",):
        name = "sdxl-refiner" if unet.in_channels == 4 else None
        micro = 5
    else:
        name = None
    if name is None or vae.kind != "kl" or unet.out_channels != 4:
        raise ShapeError(
            f"unknown model family: found {describe_shapes(shapes)}; expected one of: {EXPECTED}"
        )
    configs = [text_config_from_shapes(strip_prefix(shapes, prefix)) for prefix, _ in towers]
    if any(config is None for config in configs):
        raise ShapeError("its SDXL text encoders are incomplete")
    bigg = configs[-1]
    context = sum(config.hidden_size for config in configs)
    if unet.context_dim != context:
        raise ShapeError(
            f"its UNet reads a {unet.context_dim}-wide context but its text encoders give {context}"
        )
    projection = shapes.get(towers[-1][0] + "model.text_projection")
    pooled = projection[1] if projection else bigg.hidden_size
    if unet.adm_in_channels != pooled + micro * SDXL_MICRO_DIM:
        raise ShapeError(
            f"its label_emb takes {unet.adm_in_channels} values, not {pooled} + {micro} x {SDXL_MICRO_DIM} "
            "(the pooled text and micro-conditioning of SDXL)"
        )
    bigg = dataclasses.replace(bigg, projection_dim=pooled)
    family = KNOWN_FAMILIES[name]
    if len(configs) == 2:
        return fit_to_family(family, unet, vae, configs[0], bigg)
    return fit_to_family(family, unet, vae, bigg, None)


def _family_name(unet: UNetConfig, vae: AutoencoderConfig, layout: str | None) -> str | None:
    if unet.num_classes and unet.in_channels == 7 and vae.kind == "kl" and layout == "open_clip":
        return "sd-x4-upscaler"
    if vae.kind == "vq" and not unet.use_spatial_transformer and unet.out_channels == 3:
        return {6: "ldm-bsr", 7: "ldm-inpaint"}.get(unet.in_channels)
    if unet.use_spatial_transformer and not unet.num_classes and vae.kind == "kl":
        base = {"clip": "sd1", "open_clip": "sd2"}.get(layout or "")
        if base and unet.out_channels == 4:
            return {4: base, 9: f"{base}-inpaint"}.get(unet.in_channels)
    return None


def describe_shapes(shapes: Shapes) -> str:
    """One line of what a checkpoint holds, for "unknown family" messages."""
    parts = []
    unet_sd = strip_prefix(shapes, UNET_PREFIX)
    first = unet_sd.get("input_blocks.0.0.weight")
    if first:
        parts.append(f"UNet input_blocks.0.0.weight {list(first)} ({first[1]} input channels)")
    ctx = _first(unet_sd, "attn2.to_k.weight")
    proj = _first(unet_sd, ".proj_in.weight")
    if ctx:
        kind = "linear" if proj and len(proj) == 2 else "conv"
        parts.append(f"cross-attention context {ctx[1]} ({kind} projection)")
    elif unet_sd:
        parts.append("no cross-attention")
    if "label_emb.weight" in unet_sd:
        parts.append("label_emb")
    if "label_emb.0.0.weight" in unet_sd:
        parts.append(f"label_emb.0 ({unet_sd['label_emb.0.0.weight'][1]} wide, as SDXL)")
    vae_sd = strip_prefix(shapes, VAE_PREFIX)
    if vae_sd:
        parts.append("VQ first stage" if "quantize.embedding.weight" in vae_sd else "KL first stage")
    layout = text_layout(strip_prefix(shapes, TEXT_PREFIX))
    towers = sdxl_text_parts(shapes)
    if towers and layout is None:
        parts.append("text towers " + " + ".join(_LAYOUT_NAMES.get(t, t) for _, t in towers) + " (SDXL)")
    else:
        parts.append(f"text tower {_LAYOUT_NAMES.get(layout, 'none')}")
    parts.append(f"top-level prefixes {', '.join(top_prefixes(shapes))}")
    return ", ".join(parts)


_LAYOUT_NAMES = {
    "clip": "CLIP",
    "open_clip": "OpenCLIP",
    "bert": "LDM BERT (not supported)",
    "first_stage": "none (conditioned on the first stage)",
    "unknown": "of an unknown layout",
}


def top_prefixes(shapes: Shapes, limit: int = 6) -> list[str]:
    """The distinct leading name parts (two deep for `model.` / `cond_stage_model.`), most common first."""
    counts: dict[str, int] = {}
    for key in shapes:
        parts = key.split(".")
        depth = 2 if parts[0] in ("model", "cond_stage_model") and len(parts) > 2 else 1
        depth = 3 if parts[0] == "conditioner" and len(parts) > 3 else depth
        prefix = ".".join(parts[:depth])
        counts[prefix] = counts.get(prefix, 0) + 1
    ranked = sorted(counts, key=lambda p: -counts[p])
    return ranked[:limit] + ([f"… {len(ranked) - limit} more"] if len(ranked) > limit else [])


def _no_unet_message(shapes: Shapes) -> str:
    keys = list(shapes)
    hint = ""
    if any(k.startswith(("encoder.", "decoder.")) for k in keys) and not any(
        "down_blocks" in k for k in keys
    ):
        hint = " (it looks like a VAE on its own: choose it as the VAE instead)"
    elif any("input_hint_block." in k or k.startswith("controlnet_cond_embedding.") for k in keys):
        hint = " (it looks like a ControlNet: give it with --controlnet, or put it in controlnet/)"
    elif any(k.startswith(("lora_", "lora.")) or ".lora_" in k for k in keys):
        hint = " (it looks like a LoRA, which is not supported)"
    elif any(k.startswith("conditioner.") for k in keys):
        hint = " (it looks like SDXL's text encoders without the rest of the model)"
    elif any(k.startswith(("down_blocks.", "encoder.down_blocks.")) for k in keys):
        hint = " (it looks like one part of a diffusers folder model; use a single-file checkpoint)"
    return (
        f"no UNet weights (model.diffusion_model.*) in it{hint}; found {len(keys)} tensors with "
        f"prefixes {', '.join(top_prefixes(shapes)) or 'none'}"
    )


def unet_config_from_shapes(sd: Shapes) -> UNetConfig:
    """The openaimodel UNet layout read from its tensors (`model.diffusion_model.` stripped).

    Heads and `legacy` are left at their defaults: no tensor shape depends on them.
    """
    try:
        model_channels, in_channels = sd["input_blocks.0.0.weight"][:2]
        out_channels = sd["out.2.weight"][0]
    except KeyError:
        raise ShapeError("its UNet lacks input_blocks.0.0.weight or out.2.weight (not an LDM UNet)") from None
    n_in, outputs = len(_indices(sd, "input_blocks.")), _indices(sd, "output_blocks.")
    upsamplers = [n for n in outputs if any(_is_resampler(sd, f"output_blocks.{n}.{i}.") for i in (1, 2))]
    levels = len(upsamplers) + 1
    if n_in != len(outputs) or len(outputs) % levels:
        raise ShapeError(f"its UNet has an unexpected layout: {n_in} input and {len(outputs)} output blocks")
    res_blocks = len(outputs) // levels - 1
    mult, attention, disable_self, depths = [], [], [], []
    try:
        for level in range(levels):
            first = 1 + level * (res_blocks + 1)
            channels = sd[f"input_blocks.{first}.0.out_layers.3.weight"][0]
            mult.append(channels // model_channels)
            attn1_k = sd.get(f"input_blocks.{first}.1.transformer_blocks.0.attn1.to_k.weight")
            if _has(sd, f"input_blocks.{first}.1."):
                attention.append(2**level)
            depths.append(len(_indices(sd, f"input_blocks.{first}.1.transformer_blocks.")))
            # attn1 that reads the context (x4 upscaler) has key width = context width, not channels
            disable_self.append(bool(attn1_k) and attn1_k[1] != channels)
    except KeyError as exc:
        raise ShapeError(f"its UNet lacks {exc.args[0]} (an unexpected layout)") from None
    context = _first(sd, "attn2.to_k.weight")
    proj = _first(sd, ".proj_in.weight")
    label = sd.get("label_emb.weight")
    adm = sd.get("label_emb.0.0.weight")  # SDXL: Linear(adm, 4 * mc) on the float vector y
    depth = len(_indices(sd, "middle_block.1.transformer_blocks.")) or 1
    # SDXL varies the transformer depth per level (base 0, 2, 10 / middle 10): keep one int when the
    # attention levels and the middle agree (SD 1.x / 2.x, the refiner), else one entry per level.
    attended = {d for d in depths if d}
    per_level: int | tuple[int, ...] = depth
    middle = None
    if attended and attended != {depth}:
        per_level = tuple(depths)
        middle = None if depth == depths[-1] else depth
    elif len(attended) == 1 and not _has(sd, "middle_block.1.transformer_blocks."):
        per_level = attended.pop()
    return UNetConfig(
        in_channels=in_channels,
        out_channels=out_channels,
        model_channels=model_channels,
        channel_mult=tuple(mult),
        num_res_blocks=res_blocks,
        attention_resolutions=tuple(attention),
        use_spatial_transformer=any(".transformer_blocks." in k for k in sd),
        context_dim=context[1] if context else None,
        use_linear_in_transformer=bool(proj) and len(proj) == 2,
        transformer_depth=per_level,
        transformer_depth_middle=middle,
        disable_self_attentions=tuple(disable_self) if any(disable_self) else None,
        num_classes="sequential" if adm else (label[0] if label else None),
        adm_in_channels=adm[1] if adm else None,
        resblock_updown=levels > 1 and _has(sd, f"input_blocks.{res_blocks + 1}.0.in_layers."),
    )


def _is_resampler(sd: Shapes, prefix: str) -> bool:
    # Upsample has `.conv`; with resblock_updown the upsampler is a ResBlock (`in_layers`).
    return f"{prefix}conv.weight" in sd or f"{prefix}in_layers.0.weight" in sd


def vae_config_from_shapes(sd: Shapes) -> AutoencoderConfig:
    """The first stage (KL or VQ) read from its tensors (`first_stage_model.` stripped).

    The scale factor is not in the shapes: the family supplies it.
    """
    try:
        ch, in_channels = sd["encoder.conv_in.weight"][:2]
        levels = sorted(_indices(sd, "encoder.down."))
        mult = tuple(sd[f"encoder.down.{i}.block.0.conv2.weight"][0] // ch for i in levels)
        z_channels = sd["decoder.conv_in.weight"][1]
        double_z = sd["encoder.conv_out.weight"][0] == 2 * z_channels
        embed_dim = sd["post_quant_conv.weight"][1]
        out_ch = sd["decoder.conv_out.weight"][0]
    except KeyError as exc:
        raise ShapeError(f"its first stage lacks {exc.args[0]} (not an LDM autoencoder)") from None
    codebook = sd.get("quantize.embedding.weight")
    return AutoencoderConfig(
        kind="vq" if codebook else "kl",
        embed_dim=embed_dim,
        n_embed=codebook[0] if codebook else 0,
        double_z=double_z,
        z_channels=z_channels,
        resolution=VAE_RESOLUTION,
        in_channels=in_channels,
        out_ch=out_ch,
        ch=ch,
        ch_mult=mult,
        num_res_blocks=len(_indices(sd, "encoder.down.0.block.")),
        attn_resolutions=tuple(VAE_RESOLUTION // 2**i for i in levels if _has(sd, f"encoder.down.{i}.attn.")),
        attn_type="vanilla" if _has(sd, "encoder.mid.attn_1.") else "none",
    )


def text_layout(sd: Shapes) -> str | None:
    """Which text tower `cond_stage_model.*` holds: "clip", "open_clip", "bert", "first_stage", or None."""
    if not sd:
        return None
    if "model.token_embedding.weight" in sd:
        return "open_clip"
    if any(k.startswith("transformer.") and k.endswith("embeddings.token_embedding.weight") for k in sd):
        return "clip"
    if "transformer.token_emb.weight" in sd:
        return "bert"
    if any(k.startswith(("encoder.", "decoder.", "quantize.")) for k in sd):
        return "first_stage"  # CompVis inpainting conditions on its own first stage (`__is_first_stage__`)
    return "unknown"


def text_config_from_shapes(sd: Shapes) -> TextEncoderConfig | None:
    """The CLIP / OpenCLIP text tower read from its tensors (`cond_stage_model.` stripped).

    Heads are width / 64, as in every CLIP and OpenCLIP text tower (at least one for tiny test towers).
    Activation, layer and padding are family rules (`fit_to_family`), left at their defaults here.
    """
    layout = text_layout(sd)
    try:
        if layout == "open_clip":
            vocab, hidden = sd["model.token_embedding.weight"]
            positions = sd["model.positional_embedding"][0]
            layers = len(_indices(sd, "model.transformer.resblocks."))
            intermediate = sd["model.transformer.resblocks.0.mlp.c_fc.weight"][0]
        elif layout == "clip":
            pre = next(k for k in sd if k.endswith("embeddings.token_embedding.weight"))
            pre = pre[: -len("embeddings.token_embedding.weight")]
            vocab, hidden = sd[f"{pre}embeddings.token_embedding.weight"]
            positions = sd[f"{pre}embeddings.position_embedding.weight"][0]
            layers = len(_indices(sd, f"{pre}encoder.layers."))
            intermediate = sd[f"{pre}encoder.layers.0.mlp.fc1.weight"][0]
        else:
            return None
    except KeyError as exc:
        raise ShapeError(f"its text encoder lacks {exc.args[0]}") from None
    return TextEncoderConfig(
        kind=layout,
        hidden_size=hidden,
        num_layers=layers,
        num_heads=max(1, hidden // 64),
        intermediate_size=intermediate,
        vocab_size=vocab,
        max_positions=positions,
    )


def v_prediction_probe(unet_sd: Shapes) -> str | None:
    """The tensor whose spread tells SD 2.x v models from eps ones: the norm1 bias of the last
    output transformer (`output_blocks.11.1...` in full-size models); None when there is none."""
    blocks = [
        n for n in _indices(unet_sd, "output_blocks.") if _has(unet_sd, f"output_blocks.{n}.1.transformer_")
    ]
    if not blocks:
        return None
    return f"{UNET_PREFIX}output_blocks.{max(blocks)}.1.transformer_blocks.0.norm1.bias"


def _indices(sd: Shapes, prefix: str) -> set[int]:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    return {int(m.group(1)) for k in sd if (m := pattern.match(k))}


def _has(sd: Shapes, prefix: str) -> bool:
    return any(k.startswith(prefix) for k in sd)


def _first(sd: Shapes, suffix: str) -> tuple[int, ...] | None:
    return next((shape for k, shape in sd.items() if k.endswith(suffix)), None)
