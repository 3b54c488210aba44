"""Checkpoints in, ready networks out: build the nets and load the file's weights into them.

Which family a file is, and with which configs, is `detection.py`'s job; what a file holds without
loading it, `inspection.py`'s.

EMA: like the original inference configs (`use_ema: False`), the weights used are `model.diffusion_model.*`;
`model_ema.*` copies are ignored (released "ema-only" files already hold the EMA weights there).

Loading builds each net on the meta device and assigns the file's tensors (`assign=True`, strict): no
random init and no second copy. Tensors already in the wanted dtype on the CPU stay copy-on-write
memory-mapped views of the file; the rest are cast / moved one tensor at a time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ldm_studio.engine.checkpoints.detection import ODD_SHAPES, resolve_family, text_prefixes
from ldm_studio.engine.checkpoints.families import Family
from ldm_studio.engine.checkpoints.files import CheckpointReader, open_checkpoint
from ldm_studio.engine.checkpoints.shapes import (
    UNET_PREFIX,
    VAE_PREFIX,
    top_prefixes,
    vae_config_from_shapes,
)
from ldm_studio.engine.errors import CheckpointError
from ldm_studio.engine.file_hashes import short_hash
from ldm_studio.engine.runtime.devices import choose_device, choose_dtype

_VAE_TOP_LEVEL = ("encoder.", "decoder.", "quant_conv.", "post_quant_conv.", "quantize.")


@dataclass(eq=False)
class LoadedModel:
    """A checkpoint's networks, ready to run on `device` in `dtype`."""

    path: Path
    name: str  # file stem, as A1111 writes it in "Model:"
    config: Family
    unet: nn.Module
    vae: nn.Module
    text_encoder: nn.Module | None
    tokenizer: Any | None  # ldm_studio.engine.pipelines.tokenizer.ClipTokenizer, padding as the family needs
    device: torch.device
    dtype: torch.dtype
    vae_path: Path | None = None  # a separate VAE file that replaced the checkpoint's own
    # SDXL base / inpaint: OpenCLIP bigG (context after CLIP-L's, and the pooled vector) and its tokenizer
    # (padding with 0). None for every other family, the SDXL refiner included (its bigG is `text_encoder`).
    text_encoder_2: nn.Module | None = None
    tokenizer_2: Any | None = None

    @property
    def family(self) -> str:
        return self.config.name

    @property
    def prediction(self) -> str:
        return self.config.prediction

    @property
    def modes(self) -> tuple[str, ...]:
        return self.config.modes

    def short_hash(self) -> str:
        """A1111's "Model hash": first 10 hex of the file's sha256 (computed once per file version)."""
        return short_hash(self.path)


def load_model(
    path: str | Path,
    *,
    device: str | torch.device = "auto",
    precision: str = "auto",
    prediction: str | None = None,
    vae: str | Path | None = None,
) -> LoadedModel:
    """Load a checkpoint's UNet, VAE (or the one in `vae`), text encoder and tokenizer, ready to run."""
    from ldm_studio.engine.nets.autoencoder import Autoencoder
    from ldm_studio.engine.nets.text import HALF_KEPT_KEYS, TextEncoder, text_state_dict_from_checkpoint
    from ldm_studio.engine.nets.unet import UNetModel

    target = choose_device(device)
    dtype = choose_dtype(target, precision)
    with open_checkpoint(path) as reader:
        path = reader.path
        family, _, _ = resolve_family(reader, prediction)
        unet = build_net(
            UNetModel,
            family.unet,
            _part(reader, UNET_PREFIX),
            target,
            dtype,
            f"{path.name}: UNet",
            release=reader.release,
        )
        encoders = []
        for config, prefix, what in zip(
            (family.text, family.text2),
            text_prefixes(reader, family),
            ("text encoder", "text encoder 2"),
            strict=True,
        ):
            if config is None:
                encoders.append(None)
                continue
            state = text_state_dict_from_checkpoint(_part(reader, prefix), config)
            encoders.append(
                build_net(
                    TextEncoder,
                    config,
                    state,
                    target,
                    dtype,
                    f"{path.name}: {what}",
                    half_kept=HALF_KEPT_KEYS,
                    release=reader.release,
                )
            )
        text_encoder, text_encoder_2 = encoders
        first_stage = None
        if vae is None:
            state = _part(reader, VAE_PREFIX)
            what = f"{path.name}: VAE"
            first_stage = build_net(
                Autoencoder, family.vae, state, target, dtype, what, release=reader.release
            )
    vae_path = None
    if vae is not None:
        vae_path = Path(vae).expanduser()
        first_stage, config = load_vae(vae_path, family, target, dtype, model_name=path.name)
        family = dataclasses.replace(family, vae=config)
    tokenizer = tokenizer_2 = None
    if family.text is not None:
        from ldm_studio.engine.pipelines.tokenizer import load_tokenizer

        tokenizer = load_tokenizer(family.text.pad_token_id)
        if family.text2 is not None:
            tokenizer_2 = load_tokenizer(family.text2.pad_token_id)
    return LoadedModel(
        path=path,
        name=path.stem,
        config=family,
        unet=unet,
        vae=first_stage,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        device=target,
        dtype=dtype,
        vae_path=vae_path,
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2,
    )


def load_vae(
    path: Path, family: Family, device: torch.device, dtype: torch.dtype, *, model_name: str = "the model"
) -> tuple[nn.Module, Any]:
    """A separate VAE file (original layout, with or without `first_stage_model.`) for `family`'s model."""
    from ldm_studio.engine.nets.autoencoder import Autoencoder

    with open_checkpoint(path) as reader:
        prefix = VAE_PREFIX if any(k.startswith(VAE_PREFIX) for k in reader.tensors) else ""
        keys = [
            k for k in reader.tensors if k.startswith(prefix) and k[len(prefix) :].startswith(_VAE_TOP_LEVEL)
        ]
        shapes = {k[len(prefix) :]: reader.tensors[k].shape for k in keys}
        if any("down_blocks." in k for k in reader.tensors):
            raise CheckpointError(
                f"{reader.path.name} is a VAE in the diffusers layout, which is not supported: "
                "use the original-layout file (e.g. vae-ft-mse-840000-ema-pruned.safetensors)"
            )
        try:
            config = vae_config_from_shapes(shapes)
        except ODD_SHAPES as exc:
            found = ", ".join(top_prefixes({k: i.shape for k, i in reader.tensors.items()}))
            raise CheckpointError(f"{reader.path.name} is not a VAE: {exc}; found prefixes {found}") from None
        wanted = family.vae
        if (config.kind, config.embed_dim, config.downscale) != (
            wanted.kind,
            wanted.embed_dim,
            wanted.downscale,
        ):
            raise CheckpointError(
                f"{reader.path.name} does not fit {model_name}: it is a {_vae_words(config)}, "
                f"the model needs a {_vae_words(wanted)}"
            )
        config = dataclasses.replace(config, scale_factor=wanted.scale_factor)
        state = {k[len(prefix) :]: reader.tensor(k) for k in keys}
        what = f"{reader.path.name}: VAE"
        net = build_net(Autoencoder, config, state, device, dtype, what, release=reader.release)
    return net, config


def _vae_words(config: Any) -> str:
    kind, channels, scale = config.kind.upper(), config.embed_dim, config.downscale
    return f"{kind} autoencoder with {channels} latent channels at 1/{scale} size"


def _part(reader: CheckpointReader, prefix: str) -> dict[str, torch.Tensor]:
    return {key[len(prefix) :]: reader.tensor(key) for key in reader.tensors if key.startswith(prefix)}


def build_net(
    cls: type[nn.Module],
    config: Any,
    state: Mapping[str, torch.Tensor],
    device: torch.device,
    dtype: torch.dtype,
    what: str,
    *,
    half_kept: Collection[str] = (),
    release: Callable[[torch.Tensor], None] | None = None,
) -> nn.Module:
    """`cls(config)` built on the meta device with `state` assigned as its weights, in eval mode.

    `what` ("model.ckpt: UNet") starts the error message when the weights do not fit the config.
    Tensors named in `half_kept` that the file stores in half precision stay so on the CPU in float32
    (see `_to`); the net must accept that (type promotion makes the first op that reads them float32).
    `release(tensor)` is called on each file tensor once a converted copy replaces it (the reader drops
    its mapped pages: no second copy of the weights resident while the rest converts).
    """
    with torch.device("meta"):
        net = cls(config)
    expected = {key: tuple(t.shape) for key, t in net.state_dict().items()}
    _check_fit(expected, state, what)
    # Weights must be floating point (buffers such as CLIP's position ids may be integers): a damaged or
    # forged file with integer weights would otherwise fail deep in load_state_dict.
    for key, parameter in net.named_parameters():
        if key in state and parameter.is_floating_point() and not state[key].is_floating_point():
            raise CheckpointError(
                f"{what}: the file is damaged: {key} holds {str(state[key].dtype).removeprefix('torch.')} "
                "numbers where floating-point weights belong"
            )
    weights = {}
    for key, tensor in state.items():
        weights[key] = _to(tensor, device, dtype, keep_half=key in half_kept)
        if release is not None and weights[key] is not tensor:
            release(tensor)
    net.load_state_dict(weights, strict=True, assign=True)
    stuck = [name for name, t in chain(net.named_parameters(), net.named_buffers()) if t.is_meta]
    if stuck:  # a net that keeps non-persistent buffers on meta: a bug in that net, not in the file
        raise RuntimeError(f"{cls.__name__} left {', '.join(stuck[:3])} on the meta device after loading")
    return net.eval().requires_grad_(False)


def _check_fit(expected: dict[str, tuple[int, ...]], state: Mapping[str, torch.Tensor], what: str) -> None:
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    mismatched = [key for key in expected if key in state and tuple(state[key].shape) != expected[key]]
    problems = []
    if mismatched:
        key = mismatched[0]
        problems.append(
            f"{len(mismatched)} tensor(s) of the wrong shape (e.g. {key}: "
            f"{list(state[key].shape)} in the file, {list(expected[key])} expected)"
        )
    if missing:
        problems.append(f"{len(missing)} tensor(s) missing (e.g. {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensor(s) (e.g. {unexpected[0]})")
    if problems:
        raise CheckpointError(f"{what} weights do not fit the network: {'; '.join(problems)}")


_HALF = (torch.float16, torch.bfloat16)


def _to(
    tensor: torch.Tensor, device: torch.device, dtype: torch.dtype, *, keep_half: bool = False
) -> torch.Tensor:
    # Only floating tensors take the compute dtype; `.to` returns the mmapped tensor when nothing changes.
    if not tensor.is_floating_point():
        return tensor.to(device=device)
    if keep_half and device.type == "cpu" and dtype == torch.float32 and tensor.dtype in _HALF:
        # A big table read a few rows at a time, which float32 would only double (the CLIP token
        # embedding: 145 MiB of new memory to fault in at load, for 77 rows a prompt). Copied, not left
        # mapped: the user may replace the file while the model is loaded.
        return tensor.clone()
    return tensor.to(device=device, dtype=dtype)
