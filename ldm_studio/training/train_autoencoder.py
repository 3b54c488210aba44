"""Train the demo KL autoencoder (f4: 128² images ↔ 32×32×4 latents) on crops of the shapes dataset.

    python -m ldm_studio.training.train_autoencoder --out runs/ae --steps 400
    python -m ldm_studio.training.train_autoencoder --out runs/ae-decoder --steps 200 --lr 5e-4 \
        --init runs/ae/autoencoder.safetensors --decoder-only --crop 48 --batch 8

The second run fine-tunes only the decoder (as SD's ft-MSE VAE did): the latent space stays fixed,
so the UNets can train on the first run's latents meanwhile.

Fully convolutional (no attention), so it trains on 24-pixel crops and runs on any size. Crops come
from 128-pixel images and from 512-pixel renders, so it also decodes the upscaler's 512² output.
Loss: L1 + L2 + an L1 on image gradients (keeps edges sharp) + a tiny KL, as in LDM's KL-f4 minus the
perceptual and GAN terms, which flat shapes do not need.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ldm_studio.engine.checkpoints.shapes import VAE_PREFIX
from ldm_studio.engine.nets.autoencoder import Autoencoder
from ldm_studio.engine.nets.configs import AutoencoderConfig
from ldm_studio.training.common import base_arguments, step_generator, step_rng, train_loop
from ldm_studio.training.crops import pool_crops, render_pool
from ldm_studio.training.dataset import random_scene, render_scene
from ldm_studio.training.from_export import exported_part, is_exported_checkpoint
from ldm_studio.training.sr_autoencoder import (
    confine_branch_outputs,
    keep_branch_pairs,
    trainable_parameters,
    upsampling_autoencoder,
)
from ldm_studio.training.tensors import to_model_range

AUTOENCODER = AutoencoderConfig(
    kind="kl",
    embed_dim=4,
    z_channels=4,
    double_z=True,
    # GroupNorm has 32 groups: with 32 channels each group is one channel, which then loses its mean,
    # and a flat colour decodes to nothing. 96 channels keep 3 per group, enough to carry the colour.
    ch=96,
    ch_mult=(1, 1, 1),
    num_res_blocks=1,
    attn_type="none",
    resolution=128,
    scale_factor=1.0,  # the real one is measured after training (`latent_scale_factor`)
)
CROP = 24
HIGH_RES_POOL = 192  # 512-pixel renders kept in memory; rendering one takes ~15 ms
UPSCALER_POOL = 256  # 512-pixel renders for the upscaler's autoencoder (~200 MB)
KL_WEIGHT = 1e-6
EDGE_WEIGHT = 0.5
WEIGHTS = "autoencoder.safetensors"


def random_crops(images: np.ndarray, count: int, rng: np.random.Generator, crop: int = CROP) -> np.ndarray:
    picks = rng.integers(len(images), size=count)
    size = images.shape[1]
    ys, xs = rng.integers(0, size - crop + 1, size=(2, count))
    if count == 0:
        return np.empty((0, crop, crop, 3), np.uint8)
    return np.stack([images[i, y : y + crop, x : x + crop] for i, y, x in zip(picks, ys, xs, strict=True)])


def training_crops(step: int, seed: int, batch: int, high_res: np.ndarray, crop: int = CROP) -> torch.Tensor:
    """Three quarters from fresh 128-pixel images, a quarter from the 512-pixel pool."""
    rng = step_rng(seed, step)
    low_count = batch - batch // 4
    low = np.stack([render_scene(random_scene(rng)) for _ in range(low_count)])
    crops = np.concatenate(
        [random_crops(low, low_count, rng, crop), random_crops(high_res, batch // 4, rng, crop)]
    )
    return to_model_range(crops)


def gradient_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    dx = lambda t: t[..., :, 1:] - t[..., :, :-1]  # noqa: E731
    dy = lambda t: t[..., 1:, :] - t[..., :-1, :]  # noqa: E731
    return (dx(a) - dx(b)).abs().mean() + (dy(a) - dy(b)).abs().mean()


def autoencoder_losses(model: Autoencoder, images: torch.Tensor, generator: torch.Generator) -> dict:
    mean, logvar = model.quant_conv(model.encoder(images)).chunk(2, dim=1)
    logvar = logvar.clamp(-30.0, 20.0)
    noise = torch.randn(mean.shape, generator=generator).to(mean.device)
    z = mean + (0.5 * logvar).exp() * noise  # a posterior sample: the decoder learns to shrug off noise
    recon = model.decoder(model.post_quant_conv(z))
    diff = recon - images
    kl = 0.5 * (mean**2 + logvar.exp() - 1 - logvar).mean()
    l1, l2, edges = diff.abs().mean(), diff.square().mean(), gradient_l1(recon, images)
    loss = l1 + l2 + EDGE_WEIGHT * edges + KL_WEIGHT * kl
    return {"loss": loss, "l1": l1, "l2": l2, "edges": edges, "kl": kl}


def high_res_pool(seed: int) -> np.ndarray:
    rng = step_rng(seed, 0, stream=1)  # stream 1: the pool, apart from the per-step batches
    return np.stack([render_scene(random_scene(rng), 512) for _ in range(HIGH_RES_POOL)])


def save_weights(model: Autoencoder, path) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"config": json.dumps(AUTOENCODER.__dict__, default=list)})


def fresh_autoencoder() -> Autoencoder:
    model = Autoencoder(AUTOENCODER)
    with torch.no_grad():  # start with a small posterior std, so early latents are not drowned in noise
        model.quant_conv.bias[AUTOENCODER.embed_dim :] = -6.0
    return model


def load_weights(path, config: AutoencoderConfig = AUTOENCODER) -> Autoencoder:
    """From a run's autoencoder.safetensors, or the first stage of an exported demo checkpoint."""
    model = Autoencoder(config)
    if is_exported_checkpoint(Path(path)):
        model.load_state_dict(exported_part(Path(path), VAE_PREFIX))
    else:
        model.load_state_dict(load_file(str(path)))
    return model


def main(argv: list[str] | None = None) -> None:
    parser = base_arguments(__doc__.splitlines()[0], steps=400, batch=12, lr=1.5e-3)
    parser.add_argument("--init", type=Path, help="start from these weights (autoencoder.safetensors)")
    parser.add_argument("--decoder-only", action="store_true", help="freeze the encoder: latents stay put")
    # Larger crops bring GroupNorm's statistics closer to whole images; they cost more per step.
    parser.add_argument("--crop", type=int, default=CROP, help="crop side in pixels (a multiple of 4)")
    # The upscaler's own autoencoder: 512-pixel content only, started as exact upsampling (sr_autoencoder).
    parser.add_argument("--upscaler", action="store_true", help="crops of 512-pixel renders only")
    parser.add_argument(
        "--init-upsampling",
        action="store_true",
        help="start from a box-filter encoder and upsampling decoder",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # the initial weights
    if args.init_upsampling:
        model = upsampling_autoencoder(AUTOENCODER)
    else:
        model = load_weights(args.init) if args.init else fresh_autoencoder()
    if args.decoder_only:
        model.encoder.requires_grad_(False)
        model.quant_conv.requires_grad_(False)
    if args.init_upsampling:  # only the residual branches learn; the routing stays exact
        model.requires_grad_(False)
        for p in trainable_parameters(model):
            p.requires_grad_(True)
        confine_branch_outputs(model)
    model.to(args.device)
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trained, lr=args.lr, betas=(0.9, 0.99))
    if args.upscaler:
        scenes, renders = render_pool(UPSCALER_POOL, step_rng(args.seed, 0, stream=3))
    else:
        pool = high_res_pool(args.seed)

    def loss_fn(step: int) -> dict:
        if args.upscaler:
            crops = pool_crops(scenes, renders, args.batch, step_rng(args.seed, step), args.crop)
            images = to_model_range(crops).to(args.device)
        else:
            images = training_crops(step, args.seed, args.batch, pool, args.crop).to(args.device)
        return autoencoder_losses(model, images, step_generator(args.seed, step))

    train_loop(
        args,
        {"model": model},
        optimizer,
        loss_fn,
        on_save=lambda: save_weights(model, args.out / WEIGHTS),
        after_step=(lambda step: keep_branch_pairs(model)) if args.init_upsampling else None,
    )


if __name__ == "__main__":
    main()
