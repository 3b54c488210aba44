"""Write the trained demo models as single-file checkpoints in the original SD key layout.

    python -m ldm_studio.training.export_models --autoencoder runs/ae-decoder/autoencoder.safetensors \\
        --txt2img runs/txt2img --upscaler runs/upscaler --out resources/models

Keys: `model.diffusion_model.*` (UNet), `first_stage_model.*` (autoencoder), `cond_stage_model.transformer.
text_model.*` (SD1 CLIP layout); the full config goes in the safetensors metadata under
"ldm_studio_config", so the app's loader needs no guessing. Weights are stored in fp16 (half the size),
vectors in fp32; the loader casts them to the compute dtype.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ldm_studio.engine.checkpoints.families import METADATA_KEY, Family, family_to_json
from ldm_studio.engine.checkpoints.shapes import TEXT_PREFIX, UNET_PREFIX, VAE_PREFIX
from ldm_studio.engine.nets.autoencoder import Autoencoder
from ldm_studio.engine.nets.text import text_state_dict_to_checkpoint
from ldm_studio.engine.pipelines.preview_maps import fit_preview_map
from ldm_studio.training import train_txt2img, train_upscaler
from ldm_studio.training.common import CHECKPOINT
from ldm_studio.training.from_export import exported_part, is_exported_checkpoint
from ldm_studio.training.latents import CACHE as LATENTS_CACHE
from ldm_studio.training.train_autoencoder import AUTOENCODER

TXT2IMG_FILE = "demo-txt2img.safetensors"
UPSCALER_FILE = "demo-upscaler.safetensors"


def txt2img_family(scale_factor: float) -> Family:
    return Family(
        name="demo-shapes",
        label="Demo: coloured shapes",
        unet=train_txt2img.UNET,
        vae=dataclasses.replace(AUTOENCODER, scale_factor=scale_factor),
        text=train_txt2img.TEXT,
        prediction=train_txt2img.PREDICTION,
        conditioning="crossattn",
        linear_start=train_txt2img.LINEAR_START,
        linear_end=train_txt2img.LINEAR_END,
        timesteps=train_txt2img.TIMESTEPS,
        modes=("txt2img", "img2img", "inpaint"),
        default_size=(128, 128),
        preview="fitted",
        # Measured on the 48 held-out captions: object colour right in 90 % at 2.5-3, 71 % at 7 (the
        # guided colours overshoot the palette, most often towards white).
        default_cfg_scale=3.0,
    )


def upscaler_family(scale_factor: float) -> Family:
    return Family(
        name="demo-upscaler",
        label="Demo: 4x upscaler for the shapes model",
        unet=train_upscaler.UNET,
        vae=dataclasses.replace(AUTOENCODER, scale_factor=scale_factor),
        text=None,
        prediction=train_upscaler.PREDICTION,
        conditioning="hybrid",
        linear_start=train_upscaler.LINEAR_START,
        linear_end=train_upscaler.LINEAR_END,
        timesteps=train_upscaler.TIMESTEPS,
        modes=("upscale",),
        default_size=(512, 512),
        preview="fitted",
        # Its inputs are the demo's own clean renders: at 0 it keeps them exactly (on 8 held-out
        # images 0.9 dB closer to the truth than at SD's 20, which makes it re-imagine the noise away).
        default_noise_level=0,
    )


def _stored(tensor: torch.Tensor) -> torch.Tensor:
    """fp16 halves the files. Vectors (norm scales and shifts, biases: a few KB) stay fp32: the upscaler's
    decoder normalises around constants of ~48, where fp16's step of 0.03 is 4/255 of a colour (31.2 dB
    instead of 37.5). Integer tensors (none today) would keep their type."""
    if not tensor.is_floating_point() or tensor.dim() == 1:
        return tensor.contiguous()
    return tensor.half().contiguous()


def _prefixed(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {prefix + k: _stored(v) for k, v in state.items()}


def with_fitted_preview(family: Family, autoencoder: dict[str, torch.Tensor]) -> Family:
    """Store the least-squares latent→RGB map (and bias row) so the app's first preview costs nothing."""
    with torch.device("meta"):
        vae = Autoencoder(family.vae)
    vae.load_state_dict({k: v.float() for k, v in autoencoder.items()}, assign=True)
    matrix, bias = fit_preview_map(vae.eval())
    rows = [*matrix.tolist(), bias.tolist()]
    return dataclasses.replace(family, preview_rgb=tuple(tuple(round(v, 5) for v in row) for row in rows))


def write_checkpoint(path: Path, family: Family, parts: dict[str, dict[str, torch.Tensor]]) -> None:
    family = with_fitted_preview(family, parts[VAE_PREFIX])
    tensors: dict[str, torch.Tensor] = {}
    for prefix, state in parts.items():
        tensors.update(_prefixed(prefix, state))
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={METADATA_KEY: family_to_json(family)})
    tmp.replace(path)


def export_txt2img(run: Path, autoencoder: dict, out: Path) -> Path:
    state = torch.load(run / CHECKPOINT, map_location="cpu", weights_only=True)
    scale_factor = torch.load(run / LATENTS_CACHE, weights_only=False)["scale_factor"]
    text = text_state_dict_to_checkpoint(_trained(state, "text"), train_txt2img.TEXT)
    path = out / TXT2IMG_FILE
    parts = {UNET_PREFIX: _trained(state, "unet"), VAE_PREFIX: autoencoder, TEXT_PREFIX: text}
    write_checkpoint(path, txt2img_family(scale_factor), parts)
    return path


def export_upscaler(run: Path, autoencoder: dict, out: Path) -> Path:
    state = torch.load(run / CHECKPOINT, map_location="cpu", weights_only=True)
    path = out / UPSCALER_FILE
    parts = {UNET_PREFIX: _trained(state, "unet"), VAE_PREFIX: autoencoder}
    write_checkpoint(path, upscaler_family(train_upscaler.run_scale_factor(run)), parts)
    return path


def _trained(state: dict, name: str) -> dict[str, torch.Tensor]:
    """A module's weights from a run checkpoint: its EMA where the run kept one (--ema), else the last."""
    return state.get(f"ema_{name}", state[name])


def _first_stage(path: Path) -> dict[str, torch.Tensor]:
    """A run's autoencoder.safetensors, or the first stage of an exported checkpoint (to keep it)."""
    if is_exported_checkpoint(path):
        return exported_part(path, VAE_PREFIX)
    return load_file(str(path))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--autoencoder", type=Path, required=True)
    parser.add_argument("--txt2img", type=Path, help="run folder of train_txt2img")
    parser.add_argument("--upscaler", type=Path, help="run folder of train_upscaler")
    parser.add_argument(
        "--upscaler-autoencoder", type=Path, help="the upscaler's own first stage (default: --autoencoder)"
    )
    parser.add_argument("--out", type=Path, default=Path("resources/models"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    autoencoder = _first_stage(args.autoencoder)
    if args.txt2img:
        print(export_txt2img(args.txt2img, autoencoder, args.out))
    if args.upscaler:
        first_stage = _first_stage(args.upscaler_autoencoder) if args.upscaler_autoencoder else autoencoder
        print(export_upscaler(args.upscaler, first_stage, args.out))


if __name__ == "__main__":
    main()
