"""Adapter module names → parameters of our nets.

Our UNet keeps the original openaimodel names (`input_blocks.4.1.transformer_blocks.0.attn2.to_k`).
kohya files for SD 1.x / 2.x name UNet modules the diffusers way (`down_blocks_1_attentions_0_…`,
`resnets_0_conv1`, `downsamplers_0_conv`, `mid_block_…`, `time_embedding_linear_1`, `conv_in`), SDXL
files from sd-scripts the original way; PEFT files the diffusers way with dots. The diffusers names are
derived here from the UNet's own structure (which block is a ResBlock, a transformer, a resampler), so
any width, depth or level count maps, tiny test models and SDXL's attention-free first level included.

Text encoders hold transformers' CLIP layout (`transformer.encoder.layers.N.self_attn.q_proj`): kohya
`lora_te1_text_model_encoder_layers_N_self_attn_q_proj`. A module made for OpenCLIP's layout
(`…resblocks_N_attn_in_proj`) lands on the q, k and v rows of its packed projection.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from torch import nn

from ldm_studio.engine.nets.transformer import SpatialTransformer
from ldm_studio.engine.nets.unet_blocks import AttentionBlock, Downsample, ResBlock, Upsample

# kohya name prefix → the component it adapts.
COMPONENT_PREFIXES = {"lora_unet_": "unet", "lora_te1_": "te1", "lora_te2_": "te2"}
_RESNET_NAMES = {
    "in_layers.2": "conv1",
    "out_layers.3": "conv2",
    "emb_layers.1": "time_emb_proj",
    "skip_connection": "conv_shortcut",
}
_FIXED_UNET_NAMES = {
    "time_embed.0": "time_embedding.linear_1",
    "time_embed.2": "time_embedding.linear_2",
    "input_blocks.0.0": "conv_in",
    "out.2": "conv_out",
    "label_emb.0.0": "add_embedding.linear_1",
    "label_emb.0.2": "add_embedding.linear_2",
}
_OPEN_CLIP_NAMES = {
    "attn_out_proj": "self_attn.out_proj",
    "mlp_c_fc": "mlp.fc1",
    "mlp_c_proj": "mlp.fc2",
}
_OPEN_CLIP_LAYER = re.compile(r"^(?:model_)?transformer_resblocks_(\d+)_(.+)$")
_TEXT_LAYER = re.compile(r"(?:encoder_layers|resblocks)_(\d+)_")


@dataclass(frozen=True)
class Target:
    """Where a module's ΔW goes: `params` of `component`; three params = a packed [q; k; v] projection."""

    component: str
    params: tuple[str, ...]


class KeyMap:
    """Resolves normalised module names (see lora_files) for a set of nets.

    `components`: {"unet": UNetModel, "te1": TextEncoder, "te2": second TextEncoder (SDXL)}; any may be
    missing. Built once per loaded model (a few ms: one pass over the modules).
    """

    def __init__(self, components: Mapping[str, nn.Module]):
        self.components = dict(components)
        self._names: dict[str, Target] = {}
        self._unused: dict[str, int] = {}  # component → first text layer index not built (penultimate)
        for component, module in self.components.items():
            if component == "unet":
                self._add_unet(module)
            else:
                self._add_text(component, module)

    def resolve(self, name: str) -> Target | None:
        target = self._names.get(name)
        if target is None and not name.startswith(("lora_unet_", "lora_te")):
            target = self._names.get("lora_unet_" + name)  # a bare diffusers UNet path
        return target

    def is_unused(self, name: str) -> bool:
        """True for a text layer the encoder does not build (SD2 stops before its last layer)."""
        for prefix, component in COMPONENT_PREFIXES.items():
            if name.startswith(prefix) and component in self._unused:
                match = _TEXT_LAYER.search(name)
                return bool(match) and int(match.group(1)) >= self._unused[component]
        return False

    def __len__(self) -> int:
        return len(self._names)

    # ---- UNet ----

    def _add_unet(self, unet: nn.Module) -> None:
        diffusers = diffusers_module_names(unet)
        for path, module in unet.named_modules():
            if not isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d):
                continue
            target = Target("unet", (path + ".weight",))
            self._names["lora_unet_" + path.replace(".", "_")] = target  # original names (SDXL files)
            if path in diffusers:
                self._names["lora_unet_" + diffusers[path].replace(".", "_")] = target

    # ---- text ----

    def _add_text(self, component: str, encoder: nn.Module) -> None:
        prefix = f"lora_{component}_"
        layers: set[int] = set()
        for path, module in encoder.named_modules():
            if not isinstance(module, nn.Linear) or not path.startswith("transformer."):
                continue
            body = path.removeprefix("transformer.")
            target = Target(component, (path + ".weight",))
            flat = body.replace(".", "_")
            self._names[prefix + "text_model_" + flat] = target
            self._names[prefix + flat] = target  # files written from a tower without `text_model`
            match = re.match(r"encoder\.layers\.(\d+)\.", body)
            if match:
                layers.add(int(match.group(1)))
        for index in layers:
            self._add_open_clip_layer(component, prefix, index)
        config = getattr(encoder, "config", None)
        total = getattr(config, "num_layers", None)
        if layers and total is not None and total > len(layers):
            self._unused[component] = len(layers)

    def _add_open_clip_layer(self, component: str, prefix: str, index: int) -> None:
        ours = f"transformer.encoder.layers.{index}."
        for start in ("", "model_"):
            theirs = f"{prefix}{start}transformer_resblocks_{index}_"
            packed = tuple(f"{ours}self_attn.{p}_proj.weight" for p in "qkv")
            self._names[theirs + "attn_in_proj"] = Target(component, packed)
            self._names[theirs + "attn"] = Target(component, packed)  # a LoRA wrapping the whole MHA
            for name, mine in _OPEN_CLIP_NAMES.items():
                self._names[theirs + name] = Target(component, (f"{ours}{mine}.weight",))


def diffusers_module_names(unet: nn.Module) -> dict[str, str]:
    """Every Linear / conv of our UNet (`input_blocks.1.0.in_layers.2`) → its diffusers path
    (`down_blocks.0.resnets.0.conv1`); the legacy AttentionBlock's qkv has none."""
    blocks = diffusers_block_names(unet)
    names = {}
    for path, module in unet.named_modules():
        if isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d):
            theirs = _diffusers_path(path, blocks)
            if theirs is not None:
                names[path] = theirs
    return names


def diffusers_block_names(unet: nn.Module) -> dict[str, str]:
    """Our block prefixes (`input_blocks.4.1`) → diffusers' (`down_blocks.1.attentions.0`), by structure."""
    names = {}
    level, index = 0, 0
    for i, block in enumerate(unet.input_blocks):
        if i == 0:
            continue
        first = block[0]
        if isinstance(first, Downsample) or (isinstance(first, ResBlock) and first.resample == "down"):
            names[f"input_blocks.{i}.0"] = f"down_blocks.{level}.downsamplers.0"
            level, index = level + 1, 0
            continue
        for j, layer in enumerate(block):
            names[f"input_blocks.{i}.{j}"] = f"down_blocks.{level}.{_kind(layer)}.{index}"
        index += 1
    resnets = 0
    for j, layer in enumerate(unet.middle_block):
        if isinstance(layer, ResBlock):
            names[f"middle_block.{j}"] = f"mid_block.resnets.{resnets}"
            resnets += 1
        else:
            names[f"middle_block.{j}"] = "mid_block.attentions.0"
    per_level = len(unet.output_blocks) // (level + 1)
    for i, block in enumerate(unet.output_blocks):
        up_block, index = divmod(i, per_level)
        for j, layer in enumerate(block):
            is_up = isinstance(layer, Upsample) or (
                isinstance(layer, ResBlock) and layer.resample == "up" and j > 0
            )
            kind = "upsamplers.0" if is_up else f"{_kind(layer)}.{index}"
            names[f"output_blocks.{i}.{j}"] = f"up_blocks.{up_block}.{kind}"
    return names


def _kind(layer: nn.Module) -> str:
    if isinstance(layer, ResBlock):
        return "resnets"
    if isinstance(layer, SpatialTransformer | AttentionBlock):
        return "attentions"
    return "other"


def _diffusers_path(path: str, blocks: dict[str, str]) -> str | None:
    for ours, theirs in _FIXED_UNET_NAMES.items():
        if path == ours:
            return theirs
    parts = path.split(".")
    if len(parts) < 3:
        return None
    block = ".".join(parts[:3]) if parts[0] != "middle_block" else ".".join(parts[:2])
    theirs = blocks.get(block)
    if theirs is None:
        return None
    rest = path[len(block) + 1 :]
    if "downsamplers" in theirs and rest == "op":
        return theirs + ".conv"
    if "upsamplers" in theirs and rest == "conv":
        return theirs + ".conv"
    if "resnets" in theirs or "samplers" in theirs:
        rest = _RESNET_NAMES.get(rest, rest)
    return f"{theirs}.{rest}"
