"""Train the demo text-to-image model: a latent UNet with cross-attention and a small CLIP text encoder.

    python -m ldm_studio.training.train_txt2img --out runs/txt2img \
        --autoencoder runs/ae/autoencoder.safetensors

The autoencoder is frozen; the dataset's latents are encoded once (cached in OUT/latents.pt) and each
step draws fresh captions for them. The UNet predicts v on SD's schedule (CompVis linear betas), the
text encoder (transformers CLIPTextModel, our shipped tokenizer) trains jointly, and 10 % of captions
are dropped to "" so classifier-free guidance works.

The text encoder is first pretrained alone to make each caption's attributes readable from its context
(text_alignment.py, standing in for CLIP's pretraining), then trains with the UNet at `--text-lr-scale`
of its rate, keeping that attribute loss at `--attribute-weight`. Trained only through the diffusion loss
it collapses: before the UNet reads the context, any difference between prompts is noise to the loss,
so the encoder learns to wipe it out (contexts of different prompts ended up 1 % apart, against 30 % at
initialisation).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ldm_studio.engine.checkpoints.shapes import UNET_PREFIX
from ldm_studio.engine.nets.configs import TextEncoderConfig, UNetConfig
from ldm_studio.engine.nets.text import TextEncoder
from ldm_studio.engine.nets.unet import UNetModel
from ldm_studio.engine.pipelines.tokenizer import load_tokenizer
from ldm_studio.engine.sampling.schedules import linear_schedule
from ldm_studio.training.common import CHECKPOINT, base_arguments, step_generator, step_rng, train_loop
from ldm_studio.training.dataset import caption, held_out_scenes, object_coverage
from ldm_studio.training.ema import add_ema
from ldm_studio.training.from_export import exported_part, exported_text
from ldm_studio.training.latents import cached_latents
from ldm_studio.training.text_alignment import AttributeHead, attribute_accuracy, pretrain_text_encoder

UNET = UNetConfig(
    in_channels=4,
    out_channels=4,
    # 64, not 32: GroupNorm's 32 groups would hold one channel each and erase each channel's mean,
    # and with it the model's control of the background colour.
    model_channels=64,
    channel_mult=(1, 2, 2),
    num_res_blocks=1,
    attention_resolutions=(4,),  # cross-attention at 8×8 (and in the middle): enough for 9 positions
    num_heads=4,
    context_dim=96,
    legacy=False,
)
# Width 96 keeps the 49408-token embedding (most of the encoder's weights) small enough for the 40 MB.
TEXT = TextEncoderConfig(
    kind="clip", hidden_size=96, num_layers=2, num_heads=4, intermediate_size=384, pad_token_id=49407
)
LINEAR_START, LINEAR_END, TIMESTEPS = 0.00085, 0.012, 1000
CAPTION_DROPOUT = 0.1
OFFSET_NOISE = 0.1  # a per-channel constant in the noise, so the model cannot read the colour off its mean
# The text-to-image model trains with a far larger offset: with 0.1 the colours can be read off x_t for
# all but the noisiest ~5 % of timesteps, so almost no sample teaches the model to take them from the
# prompt (after 1300 steps its output moved by 0.2 % between prompts). With 0.5 they are ambiguous from
# about t = 600 on.
TEXT_OFFSET_NOISE = 0.5
MIN_SNR_GAMMA = 5.0  # min-SNR weighting: spend the few steps we have on the noise levels that set colours
# v, not ε: the colours are decided in the first, noisiest steps, where the prompt is all the model has to
# go on (at lower noise it reads them off x_t). An ε loss scales a wrong colour there by SNR (~0.005 at
# t=999), so the model never learns to take it from the text; here a wrong x0 costs at least its own
# square at every noise level (weight min(SNR, γ) + 1 on the x0 error).
PREDICTION = "v"
HIGH_NOISE_FRACTION = 0.5  # of each batch, drawn from the top 30 % of timesteps, where colours are set


def diffusion_loss(
    unet: torch.nn.Module,
    x0: torch.Tensor,
    context: torch.Tensor,
    alphas_cumprod: torch.Tensor,
    generator: torch.Generator,
    concat: torch.Tensor | None = None,
    y: torch.Tensor | None = None,
    prediction: str = "eps",
    x0_floor: bool = False,
    high_noise_fraction: float = 0.0,
    offset_noise: float = OFFSET_NOISE,
    pixel_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """One denoising loss: noise x0 to a random t, predict ε (or v, or x0), min-SNR weighted squared error.

    `x0_floor` adds 1 to the min-SNR weight of the x0 error, so the noisiest steps count too;
    `high_noise_fraction` of the batch takes its t from the top 30 % of the schedule; `pixel_weight`
    ([B, 1, H, W]) scales the error per latent pixel."""
    batch, device = x0.shape[0], x0.device
    steps = len(alphas_cumprod)
    t = torch.randint(0, steps, (batch,), generator=generator)
    if high_noise_fraction:  # drawn only then, so runs without it keep their random streams
        high = torch.randint(int(steps * 0.7), steps, (batch,), generator=generator)
        t = torch.where(torch.rand(batch, generator=generator) < high_noise_fraction, high, t)
    noise = torch.randn(x0.shape, generator=generator)
    noise = (noise + offset_noise * torch.randn((*x0.shape[:2], 1, 1), generator=generator)).to(device)
    ab = alphas_cumprod[t].view(-1, 1, 1, 1).to(device)
    t = t.to(device)
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    model_in = x_t if concat is None else torch.cat([x_t, concat], dim=1)
    out = unet(model_in, t.float(), context=context, y=y)
    snr = ab / (1 - ab)
    x0_weight = snr.clamp(max=MIN_SNR_GAMMA) + (1.0 if x0_floor else 0.0)
    # The ε error is sqrt(SNR) x the x0 error and the v error sqrt(SNR + 1) x: weights in x0 terms.
    if prediction == "eps":
        target, weight = noise, x0_weight / snr
    elif prediction == "x0":
        target, weight = x0, x0_weight
    else:
        target, weight = ab.sqrt() * noise - (1 - ab).sqrt() * x0, x0_weight / (snr + 1)
    error = (out - target).square()
    if pixel_weight is not None:
        error = error * pixel_weight.to(device)
    return (weight * error).mean()


def object_weights(scenes: list, latent_size: int, extra: float) -> torch.Tensor:
    """[N, 1, h, w] loss weights: 1 on the background, 1 + `extra` where the object covers the latent pixel.

    The object is a tenth of the image; weighted evenly, the loss is mostly about the background, and the
    model learned that first and drew the object small and faint (docs/TRAINING.md)."""
    cover = np.stack([object_coverage(s, latent_size) for s in scenes])
    return torch.from_numpy(1.0 + extra * cover).unsqueeze(1)


def main(argv: list[str] | None = None) -> None:
    parser = base_arguments(__doc__.splitlines()[0], steps=300, batch=8, lr=1.5e-3)
    parser.add_argument("--autoencoder", type=Path, required=True, help="frozen autoencoder weights")
    parser.add_argument("--images", type=int, default=512, help="dataset size (encoded once)")
    parser.add_argument("--text-pretrain-steps", type=int, default=400, help="text encoder alone, first")
    parser.add_argument("--text-frozen-steps", type=int, default=0, help="steps before the encoder trains on")
    parser.add_argument("--text-lr-scale", type=float, default=0.2, help="text encoder lr / UNet lr")
    parser.add_argument("--attribute-weight", type=float, default=0.1, help="of the attribute loss")
    parser.add_argument("--init-unet", type=Path, help="start the UNet from another run's checkpoint.pt")
    parser.add_argument(
        "--init-from", type=Path, help="start UNet and text encoder from an exported demo checkpoint"
    )
    parser.add_argument("--object-weight", type=float, default=0.0, help="extra loss weight on the object")
    parser.add_argument("--ema", type=float, default=0.0, help="EMA decay of the exported weights (0: off)")
    args = parser.parse_args(argv)
    frozen_steps = args.text_frozen_steps
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    data = cached_latents(args.out, args.autoencoder, args.images, args.seed, args.device)
    latents = (data.latents * data.scale_factor).to(args.device)
    weights = None
    if args.object_weight:
        weights = object_weights(data.scenes, latents.shape[-1], args.object_weight)
    torch.manual_seed(args.seed)
    unet, text = UNetModel(UNET).to(args.device), TextEncoder(TEXT).to(args.device)
    if args.init_unet:
        unet.load_state_dict(torch.load(args.init_unet, map_location=args.device, weights_only=True)["unet"])
    if args.init_from:
        unet.load_state_dict(exported_part(args.init_from, UNET_PREFIX))
        text.load_state_dict(exported_text(args.init_from, TEXT))
    tokenizer = load_tokenizer(TEXT.pad_token_id)
    alphas_cumprod = linear_schedule(LINEAR_START, LINEAR_END, TIMESTEPS).alphas_cumprod.float()
    head = AttributeHead(TEXT.hidden_size).to(args.device)
    groups = [
        {"params": list(unet.parameters()), "lr": args.lr},
        {"params": [*text.parameters(), *head.parameters()], "lr": args.lr * args.text_lr_scale},
    ]
    optimizer = torch.optim.Adam(groups, lr=args.lr, betas=(0.9, 0.99))
    modules = {"unet": unet, "text": text, "head": head}
    average = add_ema(modules, ("unet", "text"), args.ema)
    token_cache: dict[str, list[int]] = {}

    def tokens(texts: list[str]) -> torch.Tensor:
        for t in texts:
            if t not in token_cache:
                token_cache[t] = tokenizer.encode(t)
        return torch.tensor([token_cache[t] for t in texts], device=args.device)

    if not (args.resume and (args.out / CHECKPOINT).exists()) and args.text_pretrain_steps:
        pretrain_text_encoder(text, head, tokens, steps=args.text_pretrain_steps, seed=args.seed)
        held_out = held_out_scenes(per_triple=2, seed=args.seed)
        print("held-out captions read right:", attribute_accuracy(text, head, tokens, held_out))

    def loss_fn(step: int) -> dict:
        rng = step_rng(args.seed, step)
        picks = rng.integers(len(latents), size=args.batch)
        scenes = [None if rng.random() < CAPTION_DROPOUT else data.scenes[i] for i in picks.tolist()]
        texts = ["" if scene is None else caption(scene, rng) for scene in scenes]
        with torch.set_grad_enabled(step >= frozen_steps):  # no grads: Adam leaves the encoder as it is
            context = text(tokens(texts))
            attributes = head.loss(context, scenes) if args.attribute_weight else context.sum() * 0.0
        loss = diffusion_loss(
            unet,
            latents[picks],
            context,
            alphas_cumprod,
            step_generator(args.seed, step),
            prediction=PREDICTION,
            x0_floor=True,
            high_noise_fraction=HIGH_NOISE_FRACTION,
            offset_noise=TEXT_OFFSET_NOISE,
            pixel_weight=None if weights is None else weights[picks],
        )
        return {
            "loss": loss + args.attribute_weight * attributes,
            "diffusion": loss,
            "attributes": attributes,
        }

    train_loop(args, modules, optimizer, loss_fn, warmup=30, after_step=average)
    print(f"latent scale factor {data.scale_factor:.5f}; {math.prod(latents.shape[1:])} values per latent")


if __name__ == "__main__":
    main()
