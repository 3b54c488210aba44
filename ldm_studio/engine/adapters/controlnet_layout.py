"""ControlNet files without torch: key layouts, the config read from shapes, the family and the kind.

Layouts:
- original (cldm / sgm): `control_model.` + `input_blocks.*`, `input_hint_block.*`, `zero_convs.*`,
  `middle_block_out.*` (SD 1.5 v1.0 / v1.1 `.pth` and `.safetensors`, SD 2.x files such as thibaud's,
  which some tools save without the prefix, and SDXL files in the sgm layout);
- diffusers (`ControlNetModel` single files: `controlnet_cond_embedding.*`, `down_blocks.*`,
  `controlnet_down_blocks.*`, `controlnet_mid_block.*`), how nearly every SDXL ControlNet is released:
  renamed here to the original layout, the inverse of diffusers' own convert_controlnet_checkpoint.

Family from shapes: a `label_emb.0` (SDXL's vector conditioning) is SDXL; else a 1024-wide context or
linear transformer projections is SD 2.x; else SD 1.x. The kind (canny, depth, …) is not in the shapes
(every kind reads a 3-channel hint), so it comes from the file name, or its folder for diffusers' folder
downloads named `diffusion_pytorch_model.safetensors`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from ldm_studio.engine.nets.configs import ControlNetConfig, UNetConfig

PREFIX = "control_model."
FAMILY_LABELS = {"sd1": "SD 1.x", "sd2": "SD 2.x", "sdxl": "SDXL"}
# Kinds as the lllyasviel / diffusers / community files name them, most specific first.
KINDS = (
    ("lineart_anime", "lineart_anime"), ("lineart", "lineart"), ("softedge", "softedge"), ("hed", "softedge"),
    ("pidi", "softedge"), ("scribble", "scribble"), ("sketch", "scribble"), ("canny", "canny"),
    ("depth", "depth"), ("normal", "normal"), ("openpose", "openpose"), ("pose", "openpose"),
    ("mlsd", "mlsd"), ("seg", "seg"), ("shuffle", "shuffle"), ("ip2p", "ip2p"), ("inpaint", "inpaint"),
    ("tile", "tile"), ("blur", "tile"), ("qrcode", "qrcode"), ("qr", "qrcode"), ("union", "union"),
)  # fmt: skip
_RESNET = {
    "norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection",
}  # fmt: skip
_FIXED = {
    "time_embedding.linear_1.": "time_embed.0.", "time_embedding.linear_2.": "time_embed.2.",
    "add_embedding.linear_1.": "label_emb.0.0.", "add_embedding.linear_2.": "label_emb.0.2.",
    "conv_in.": "input_blocks.0.0.", "controlnet_cond_embedding.conv_in.": "input_hint_block.0.",
    "controlnet_mid_block.": "middle_block_out.0.", "mid_block.resnets.0.": "middle_block.0.",
    "mid_block.attentions.0.": "middle_block.1.", "mid_block.resnets.1.": "middle_block.2.",
}  # fmt: skip

T = TypeVar("T")


class LayoutError(ValueError):
    """Not a ControlNet, or one of an unknown layout; the message says what was found."""


def layout_of(keys: Mapping[str, object]) -> str:
    """ "original" (prefix stripped or not), "diffusers", or a LayoutError naming what the file looks like."""
    if any(k.startswith(PREFIX + "input_hint_block.") or k.startswith("input_hint_block.") for k in keys):
        return "original"
    if any(k.startswith("controlnet_cond_embedding.") for k in keys):
        return "diffusers"
    if any(k.startswith("model.diffusion_model.") for k in keys):
        raise LayoutError("it is a full Stable Diffusion checkpoint, not a ControlNet")
    if any("lora" in k for k in keys):
        raise LayoutError(
            "it looks like a LoRA (or a Control-LoRA, which is not supported), not a ControlNet"
        )
    raise LayoutError("it has no ControlNet hint block (input_hint_block / controlnet_cond_embedding)")


def original_names(keys: Mapping[str, T]) -> dict[str, T]:
    """The file's entries under original-layout names (`control_model.` stripped), whatever its layout."""
    layout = layout_of(keys)
    if layout == "original":
        return {k.removeprefix(PREFIX): v for k, v in keys.items() if not k.startswith("lora")}
    per_level = len(_indices(keys, r"down_blocks\.0\.resnets\.(\d+)\."))
    renamed = {}
    for key, value in keys.items():
        name = _from_diffusers(key, per_level)
        if name is None:
            raise LayoutError(f"its diffusers-layout key {key!r} has no place in a ControlNet")
        renamed[name] = value
    return renamed


def _from_diffusers(key: str, per_level: int) -> str | None:
    for old, new in _FIXED.items():
        if key.startswith(old):
            rest = key[len(old) :]
            return new + (_resnet_part(rest) if "resnets" in old else rest)
    if m := re.match(r"controlnet_cond_embedding\.blocks\.(\d+)\.(.*)", key):
        return f"input_hint_block.{2 * int(m.group(1)) + 2}.{m.group(2)}"
    if m := re.match(r"controlnet_cond_embedding\.conv_out\.(.*)", key):
        return f"input_hint_block.14.{m.group(1)}"
    if m := re.match(r"controlnet_down_blocks\.(\d+)\.(.*)", key):
        return f"zero_convs.{m.group(1)}.0.{m.group(2)}"
    if m := re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
        block = 1 + int(m.group(1)) * (per_level + 1) + int(m.group(3))
        if m.group(2) == "resnets":
            return f"input_blocks.{block}.0.{_resnet_part(m.group(4))}"
        return f"input_blocks.{block}.1.{m.group(4)}"
    if m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key):
        return f"input_blocks.{(int(m.group(1)) + 1) * (per_level + 1)}.0.op.{m.group(2)}"
    return None


def _resnet_part(rest: str) -> str:
    head, _, tail = rest.partition(".")
    return f"{_RESNET.get(head, head)}.{tail}"


def config_from_shapes(shapes: Mapping[str, tuple[int, ...]]) -> ControlNetConfig:
    """The ControlNet's config from its original-layout shapes (prefix stripped).

    Attention heads are not in the shapes: SD 1.x files have 8 heads, SD 2.x and SDXL 64-wide heads.
    """
    try:
        model_channels, in_channels = shapes["input_blocks.0.0.weight"][:2]
        hint_channels = shapes["input_hint_block.0.weight"][1]
        hint_widths = tuple(shapes[f"input_hint_block.{2 * i}.weight"][0] for i in range(7))
        if shapes["input_hint_block.14.weight"][0] != model_channels:
            raise LayoutError("its last hint conv does not give the model's width")
    except KeyError as exc:
        raise LayoutError(f"it lacks {exc.args[0]} (an unexpected ControlNet layout)") from None
    n_in = len(_indices(shapes, r"input_blocks\.(\d+)\."))
    downs = sorted(n for n in _indices(shapes, r"input_blocks\.(\d+)\.0\.op\."))
    levels = len(downs) + 1
    if (n_in - levels) % levels or n_in <= levels or len(_indices(shapes, r"zero_convs\.(\d+)\.")) != n_in:
        raise LayoutError(f"it has an unexpected layout: {n_in} input blocks, {levels} levels")
    res_blocks = (n_in - levels) // levels  # n_in = 1 + levels·res + (levels − 1)
    mult, attention, depths = [], [], []
    try:
        for level in range(levels):
            first = 1 + level * (res_blocks + 1)
            mult.append(shapes[f"input_blocks.{first}.0.out_layers.3.weight"][0] // model_channels)
            blocks = _indices(shapes, rf"input_blocks\.{first}\.1\.transformer_blocks\.(\d+)\.")
            if blocks:
                attention.append(2**level)
            depths.append(len(blocks))
    except KeyError as exc:
        raise LayoutError(f"it lacks {exc.args[0]} (an unexpected ControlNet layout)") from None
    context = _first(shapes, "attn2.to_k.weight")
    proj = _first(shapes, ".proj_in.weight")
    adm = shapes.get("label_emb.0.0.weight")
    middle = len(_indices(shapes, r"middle_block\.1\.transformer_blocks\.(\d+)\.")) or 1
    attended = {d for d in depths if d}
    depth: int | tuple[int, ...] = attended.pop() if len(attended) == 1 else tuple(depths)
    linear = bool(proj) and len(proj) == 2
    family = _family(context[1] if context else None, linear, adm is not None)
    heads = (
        {"num_heads": 8, "num_head_channels": -1}
        if family == "sd1"
        else {"num_heads": -1, "num_head_channels": 64}
    )
    unet = UNetConfig(
        in_channels=in_channels,
        model_channels=model_channels,
        channel_mult=tuple(mult),
        num_res_blocks=res_blocks,
        attention_resolutions=tuple(attention),
        context_dim=context[1] if context else None,
        use_linear_in_transformer=linear,
        transformer_depth=depth,
        transformer_depth_middle=None if isinstance(depth, int) and depth == middle else middle,
        num_classes="sequential" if adm else None,
        adm_in_channels=adm[1] if adm else None,
        legacy=False,
        **heads,
    )
    return ControlNetConfig(unet=unet, hint_channels=hint_channels, hint_widths=hint_widths)


def _family(context: int | None, linear: bool, adm: bool) -> str:
    if adm:
        return "sdxl"
    if context == 1024 or (context != 768 and linear):
        return "sd2"
    return "sd1"


def family_of(config: ControlNetConfig) -> str:
    """ "sd1", "sd2" or "sdxl" for a ControlNet config read by config_from_shapes."""
    unet = config.unet
    return _family(unet.context_dim, unet.use_linear_in_transformer, unet.num_classes == "sequential")


def kind_from_name(path: str | Path) -> str:
    """canny, depth, … from the file name (or its folder's, for diffusers' generic name); "" if none."""
    path = Path(path)
    for name in (
        (path.stem, path.parent.name) if path.stem.startswith("diffusion_pytorch_model") else (path.stem,)
    ):
        lowered = name.lower()
        for token, kind in KINDS:
            if re.search(rf"(?<![a-z]){token}", lowered):
                return kind
    return ""


def _indices(keys: Mapping[str, object], pattern: str) -> set[int]:
    compiled = re.compile(pattern)
    return {int(m.group(1)) for k in keys if (m := compiled.match(k))}


def _first(shapes: Mapping[str, tuple[int, ...]], suffix: str) -> tuple[int, ...] | None:
    return next((tuple(v) for k, v in shapes.items() if k.endswith(suffix)), None)
