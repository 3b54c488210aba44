"""Train the demo ×4 upscaler: a latent UNet conditioned on the low-res image, SD x4-upscaler style.

    python -m ldm_studio.training.train_upscaler --out runs/upscaler \\
        --autoencoder runs/upscaler-decoder/autoencoder.safetensors --ema 0.995

The UNet sees [noisy latent (4), noise-augmented low-res image (3)] at the low-res size and the
augmentation level as a class label (`label_emb`, 0-999), on the x4 upscaler's schedule (linear
1e-4 → 0.02). It has no text encoder. Trained on 128-pixel crops of 512-pixel renders, whose 4×
box-downsampled 32-pixel crops are crops of what the text-to-image model draws at 128².

With the upscaler's own autoencoder (train_upscaler_decoder), whose latent is the low-res image, the
UNet predicts x0 and starts as a pass-through of its low-res input (`sr_unet`): it learns to undo the
noise augmentation. Half of each batch takes its augmentation level from [0, 50], where the app runs
it (the demo upscaler's own default is 0, SD's 20); the other half from the x4 upscaler's full
[0, 350]; `--clean-share` of it sits at exactly 0, where the pass-through alone would be exact.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ldm_studio.engine.checkpoints.detection import resolve_family
from ldm_studio.engine.checkpoints.files import open_checkpoint
from ldm_studio.engine.checkpoints.shapes import UNET_PREFIX
from ldm_studio.engine.nets.configs import UNetConfig
from ldm_studio.engine.sampling.schedules import linear_schedule
from ldm_studio.training.common import CHECKPOINT, base_arguments, step_generator, step_rng, train_loop
from ldm_studio.training.crops import box_downsample, pool_crops, render_pool
from ldm_studio.training.ema import add_ema
from ldm_studio.training.from_export import exported_part
from ldm_studio.training.latents import encode_images
from ldm_studio.training.sr_unet import freeze_routing, passthrough_unet
from ldm_studio.training.tensors import to_model_range
from ldm_studio.training.train_autoencoder import load_weights
from ldm_studio.training.train_txt2img import diffusion_loss

UNET = UNetConfig(
    in_channels=7,
    out_channels=4,
    model_channels=64,  # two channels per GroupNorm group, so the output keeps control of colour
    channel_mult=(1, 2),
    num_res_blocks=1,
    attention_resolutions=(),  # only the middle block attends (the UNet always has that one)
    num_heads=4,
    use_spatial_transformer=False,  # no text: legacy self-attention instead of a transformer
    context_dim=None,
    num_classes=1000,  # the low-res noise level, as the x4 upscaler
    legacy=False,
)
LINEAR_START, LINEAR_END, TIMESTEPS = 0.0001, 0.02, 1000
MAX_NOISE_LEVEL = 350  # as the x4 upscaler: augmentation levels drawn from [0, 350]
LOW_NOISE_LEVEL = 50  # half of each batch at or below this: the levels the app samples at
PREDICTION = "x0"
HIGH_RES, FACTOR = 128, 4  # crops: 32² latents, so GroupNorm sees image-like statistics
RENDERS = 200
CACHE = "pairs.pt"
SCALE_FILE = "scale_factor.txt"


def run_scale_factor(run: Path) -> float:
    """The latent scale factor a run trained with (older runs: 1 / std of its cached latents)."""
    if (run / SCALE_FILE).exists():
        return float((run / SCALE_FILE).read_text())
    latents, _ = torch.load(run / CACHE)
    return float(1 / latents.std())


def init_scale_factor(source: Path) -> float:
    """The scale factor to keep when starting from `source`: a run folder or an exported model file."""
    if source.is_dir():
        return run_scale_factor(source)
    with open_checkpoint(source) as reader:  # the family as the app's loader reads it
        return resolve_family(reader)[0].vae.scale_factor


def init_unet_state(source: Path) -> dict[str, torch.Tensor]:
    """The UNet weights of a run folder (its EMA copy when it kept one) or of an exported model file."""
    if not source.is_dir():
        return exported_part(source, UNET_PREFIX)
    state = torch.load(source / CHECKPOINT, map_location="cpu", weights_only=True)
    return state.get("ema_unet", state["unet"])


def make_pairs(
    count: int, seed: int, autoencoder: Path, device: str = "cpu", crop: int = HIGH_RES
) -> tuple[torch.Tensor, torch.Tensor]:
    """(latents of high-res crops, their 4× smaller low-res crops in [-1, 1]); crop 512: whole renders."""
    rng = step_rng(seed, 0, stream=9)
    scenes, renders = render_pool(RENDERS, rng)
    high = pool_crops(scenes, renders, count, rng, crop)
    low = box_downsample(high, FACTOR)
    latents = encode_images(load_weights(autoencoder).eval(), high, device)
    return latents, to_model_range(low.round().astype(np.uint8))


def draw_levels(batch: int, clean_share: float, generator: torch.Generator) -> torch.Tensor:
    """Noise augmentation levels for one batch: half from [0, 50], the rest from [0, 350], and the
    first `clean_share` of the batch at exactly 0 (a clean input, which needs no correction at all)."""
    levels = torch.randint(0, MAX_NOISE_LEVEL + 1, (batch,), generator=generator)
    calm = batch // 2
    levels[:calm] = torch.randint(0, LOW_NOISE_LEVEL + 1, (calm,), generator=generator)
    levels[: round(batch * clean_share)] = 0
    return levels


def main(argv: list[str] | None = None) -> None:
    parser = base_arguments(__doc__.splitlines()[0], steps=1500, batch=8, lr=5e-4)
    parser.add_argument("--autoencoder", type=Path, required=True, help="frozen autoencoder weights")
    parser.add_argument("--pairs", type=int, default=1000, help="training crops (encoded once)")
    parser.add_argument("--ema", type=float, default=0.0, help="EMA decay of the exported weights (0: off)")
    parser.add_argument("--crop", type=int, default=HIGH_RES, help="high-res crop side (512: whole renders)")
    # Crops normalise a little unlike whole images (GroupNorm): a last stage on whole images mends that.
    parser.add_argument("--init-unet", type=Path, help="start from a run (its EMA) or an exported model")
    # A clean input needs no correction, but the learned part still added 0.9/255 to it (x0 at t = 0).
    parser.add_argument("--clean-share", type=float, default=0.0, help="share of each batch at level 0")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.out / CACHE
    if cache.exists():
        latents, low = torch.load(cache)
    else:
        latents, low = make_pairs(args.pairs, args.seed, args.autoencoder, args.device, args.crop)
        torch.save((latents, low), cache)
    # Unit-variance latents, as for the text-to-image model; a later stage keeps its first stage's.
    scale_factor = init_scale_factor(args.init_unet) if args.init_unet else float(1 / latents.std())
    (args.out / SCALE_FILE).write_text(f"{scale_factor!r}\n")
    latents, low = (latents * scale_factor).to(args.device), low.to(args.device)
    torch.manual_seed(args.seed)
    unet = passthrough_unet(UNET, scale_factor)
    if args.init_unet:
        unet.load_state_dict(init_unet_state(args.init_unet))
    unet.to(args.device)
    freeze_routing(unet)
    alphas_cumprod = linear_schedule(LINEAR_START, LINEAR_END, TIMESTEPS).alphas_cumprod.float()
    low_res_alphas = alphas_cumprod  # the x4 upscaler augments its input on the same linear schedule
    optimizer = torch.optim.Adam(unet.parameters(), lr=args.lr, betas=(0.9, 0.99))

    def loss_fn(step: int) -> dict:
        picks = step_rng(args.seed, step).integers(len(latents), size=args.batch)
        generator = step_generator(args.seed, step)
        levels = draw_levels(args.batch, args.clean_share, generator)
        ab = low_res_alphas[levels].view(-1, 1, 1, 1).to(args.device)
        clean = low[picks]
        noise = torch.randn(clean.shape, generator=generator).to(args.device)
        augmented = ab.sqrt() * clean + (1 - ab).sqrt() * noise
        levels = levels.to(args.device)
        target = latents[picks]
        loss = diffusion_loss(
            unet, target, None, alphas_cumprod, generator, concat=augmented, y=levels, prediction=PREDICTION
        )
        return {"loss": loss}

    modules = {"unet": unet}
    average = add_ema(modules, ("unet",), args.ema)
    train_loop(args, modules, optimizer, loss_fn, warmup=30, after_step=average)
    print(f"latent scale factor {scale_factor:.5f}")


if __name__ == "__main__":
    main()
