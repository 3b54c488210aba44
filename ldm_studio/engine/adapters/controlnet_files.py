"""ControlNet files in, ready networks out: `.safetensors` or weights-only `.pth`/`.ckpt`, either layout.

Read through the checkpoint reader (header first: a truncated or pickled-code file fails before any
tensor is read), renamed to the original layout (controlnet_layout), built on the meta device and
assigned strictly, so a missing or extra tensor is an error rather than silent random weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ldm_studio.engine.adapters.controlnet_layout import (
    FAMILY_LABELS,
    LayoutError,
    config_from_shapes,
    family_of,
    kind_from_name,
    layout_of,
    original_names,
)
from ldm_studio.engine.checkpoints.files import open_checkpoint
from ldm_studio.engine.errors import CheckpointError, InputError
from ldm_studio.engine.file_hashes import sha256_of_file
from ldm_studio.engine.nets.configs import ControlNetConfig
from ldm_studio.engine.nets.controlnet import ControlNet


@dataclass(frozen=True)
class ControlNetInfo:
    path: Path
    config: ControlNetConfig
    family: str  # "sd1" / "sd2" / "sdxl"
    kind: str  # "canny", "depth", … or "" when the name does not say
    layout: str  # "original" or "diffusers"

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def family_label(self) -> str:
        return FAMILY_LABELS[self.family]


@dataclass(eq=False)
class LoadedControlNet:
    info: ControlNetInfo
    net: ControlNet

    @property
    def name(self) -> str:
        return self.info.name

    def short_hash(self) -> str:
        """The 8 hex the A1111 ControlNet extension writes after the model name."""
        return sha256_of_file(self.info.path)[:8]


def inspect_controlnet(path: str | Path) -> ControlNetInfo:
    """What a ControlNet file is, from its header alone (no tensor read for .safetensors)."""
    path = Path(path).expanduser()
    with open_checkpoint(path) as reader:
        shapes = {k: v.shape for k, v in reader.tensors.items()}
    return _info(path, shapes)


def _info(path: Path, shapes: dict[str, tuple[int, ...]]) -> ControlNetInfo:
    try:
        layout = layout_of(shapes)
        config = config_from_shapes(original_names(shapes))
    except LayoutError as exc:
        raise CheckpointError(f"{path.name} is not a ControlNet we can read: {exc}") from None
    return ControlNetInfo(path, config, family_of(config), kind_from_name(path), layout)


def load_controlnet(path: str | Path, *, device: torch.device, dtype: torch.dtype) -> LoadedControlNet:
    """The ControlNet in `path` on `device` in `dtype`, in eval mode without gradients."""
    path = Path(path).expanduser()
    with open_checkpoint(path) as reader:
        info = _info(path, {k: v.shape for k, v in reader.tensors.items()})
        names = original_names({k: k for k in reader.tensors})
        state = {ours: reader.tensor(theirs).to(device, dtype) for ours, theirs in names.items()}
    with torch.device("meta"):
        net = ControlNet(info.config)
    try:
        net.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "mismatched tensors"
        raise CheckpointError(f"{path.name}: its tensors do not make a ControlNet ({first})") from None
    net.eval().requires_grad_(False)
    return LoadedControlNet(info, net)


def check_compatible(info: ControlNetInfo, model_family: str, model_label: str, unet_config) -> None:
    """An InputError naming both families when the ControlNet cannot steer this model's UNet.

    The widths decide (context and vector widths, levels, channels must match the UNet's encoder); the
    family names are for the message.
    """
    control = info.config.unet
    same = (
        control.context_dim == unet_config.context_dim
        and control.adm_in_channels == unet_config.adm_in_channels
        and control.model_channels == unet_config.model_channels
        and tuple(control.channel_mult) == tuple(unet_config.channel_mult)
        and control.num_res_blocks == unet_config.num_res_blocks
    )
    if not same:
        base = model_family.split("-", 1)[0]
        model = FAMILY_LABELS.get(base, model_label)
        raise InputError(
            f"ControlNet {info.name} is for {info.family_label} but the model is {model}: "
            "choose a ControlNet made for the model's family"
        )
