"""What the UNet is conditioned on, per family: text contexts and the channels concatenated to x.

Families differ only here (docs/MODEL_FACTS.md): crossattn models read text; 9-channel inpainting models also
get [mask, masked-image latent]; the x4 upscaler gets the noise-augmented low-res image and its noise
level as a class label; the CompVis LDM models get channels only.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict

import numpy as np
import torch

from ldm_studio.engine.pipelines.images import images_to_tensor, mask_to_latent, mask_to_tensor
from ldm_studio.engine.pipelines.prompts import encode_prompt_pair
from ldm_studio.engine.pipelines.vae_codec import encode_pixels
from ldm_studio.engine.sampling.denoisers import Conditioning
from ldm_studio.engine.sampling.noise import NoiseSource
from ldm_studio.engine.sampling.schedules import linear_schedule

# The x4 upscaler augments its low-res input on a schedule of its own (CompVis linear 1e-4 → 0.02).
_LOW_RES_SCHEDULE = linear_schedule(0.0001, 0.02, 1000)


# The last few prompt pairs each text encoder read: pressing Generate again with the same prompt (a new
# seed, another size) skips the encoder (0.35 s of a 2-core CPU for SD 1.5's CLIP). Keyed by the encoder
# itself, so the entries go with the model.
_RECENT_PROMPTS = 8
_recent: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def forget_prompts() -> None:
    """Drop every remembered prompt encoding (after changing an encoder's weights in place)."""
    _recent.clear()


def text_contexts(
    model, prompt: str, negative: str, batch: int, embeddings: dict | None = None
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(cond, uncond) cross-attention contexts repeated for the batch, or None for a text-free model.

    `embeddings`: {word: adapters.embeddings.Embedding} the prompts use (textual inversion)."""
    encoder = model.text_encoder
    if encoder is None:
        return None
    recent = _recent.setdefault(encoder, OrderedDict())
    # The last parameter (the final norm's) has the compute dtype; the token table may be kept in half.
    weight = list(encoder.parameters())[-1]
    vectors = embedding_vectors(embeddings, "te1", weight.shape[-1])
    key = (prompt, negative, weight.dtype, weight.device, *((n, id(v)) for n, v in (vectors or {}).items()))
    keep = torch.is_inference_mode_enabled()  # tensors made with gradients on belong to their caller
    if keep and key in recent:
        recent.move_to_end(key)
        cond, uncond = recent[key]
    else:
        cond, uncond = encode_prompt_pair(encoder, model.tokenizer, prompt, negative, vectors)
        if keep:
            recent[key] = cond, uncond
            while len(recent) > _RECENT_PROMPTS:
                recent.popitem(last=False)
    return cond.repeat(batch, 1, 1), uncond.repeat(batch, 1, 1)


def embedding_vectors(embeddings: dict | None, component: str, width: int) -> dict | None:
    """{word: [n, width] vectors} of the embeddings for text encoder `component`; None when there are none.
    An embedding made for another width is a one-line InputError naming it."""
    if not embeddings:
        return None
    return {name: embedding.vectors_for(component, width) for name, embedding in embeddings.items()}


def pair(contexts, concat: torch.Tensor | None = None, y: torch.Tensor | None = None):
    """(cond, uncond) Conditioning sharing the same concat channels and labels."""
    if contexts is None:
        return Conditioning(None, concat, y), None
    cond, uncond = contexts
    return Conditioning(cond, concat, y), Conditioning(uncond, concat, y)


def encode_images(
    model, image: np.ndarray, batch: int, generator: torch.Generator | NoiseSource | None = None
) -> torch.Tensor:
    """VAE latents (already scaled) of an RGB uint8 image, repeated for the batch."""
    pixels = images_to_tensor(image, device=model.device, dtype=model.dtype)
    return encode_pixels(model.vae, pixels, generator).repeat(batch, 1, 1, 1)


def inpaint_channels(
    model, image: np.ndarray, mask: np.ndarray, batch: int, generator: torch.Generator | NoiseSource | None
) -> torch.Tensor:
    """The channels an inpainting model expects after x: SD [mask, masked latent]; LDM [masked latent, mask].

    The masked image keeps pixels where mask < 0.5 and is 0 (grey) in the hole, as both were trained.
    """
    factor = model.config.vae.downscale
    hole = (mask_to_tensor(mask, device=model.device, dtype=model.dtype) >= 0.5).to(model.dtype)
    pixels = images_to_tensor(image, device=model.device, dtype=model.dtype) * (1 - hole)
    masked_latent = encode_pixels(model.vae, pixels, generator)
    small_hole = mask_to_latent(hole, factor, "nearest").expand(masked_latent.shape[0], -1, -1, -1)
    if model.config.conditioning == "concat":  # CompVis LDM inpainting: mask in {-1, 1}, last
        channels = torch.cat([masked_latent, small_hole * 2 - 1], dim=1)
    else:
        channels = torch.cat([small_hole, masked_latent], dim=1)
    # A per-image noise source already gave one posterior sample per image.
    return channels if channels.shape[0] == batch else channels.repeat(batch, 1, 1, 1)


def blank_inpaint_channels(model, latent_shape: tuple[int, ...]) -> torch.Tensor:
    """An inpainting model asked for txt2img: repaint everything, masked image all grey (as A1111)."""
    batch, _, height, width = latent_shape
    factor = model.config.vae.downscale
    grey = torch.zeros(1, 3, height * factor, width * factor, device=model.device, dtype=model.dtype)
    masked_latent = model.vae.encode(grey)
    ones = torch.ones(1, 1, height, width, device=model.device, dtype=model.dtype)
    if model.config.conditioning == "concat":
        channels = torch.cat([masked_latent, ones], dim=1)
    else:
        channels = torch.cat([ones, masked_latent], dim=1)
    return channels.repeat(batch, 1, 1, 1)


def augmented_low_res(
    image: np.ndarray, noise_level: int, batch: int, generator: torch.Generator | NoiseSource, device, dtype
) -> torch.Tensor:
    """The x4 upscaler's input image: q_sample(lr, noise_level) on its own schedule, noise on the CPU."""
    low_res = images_to_tensor(image)
    if isinstance(generator, NoiseSource):  # each image's augmentation from its own seed
        noise = generator.randn((batch, *low_res.shape[1:]))
    else:
        noise = torch.randn(low_res.shape, generator=generator)
    alpha_bar = _LOW_RES_SCHEDULE.alphas_cumprod[noise_level].float()
    noised = alpha_bar.sqrt() * low_res + (1 - alpha_bar).sqrt() * noise
    noised = noised.to(device=device, dtype=dtype)
    return noised if noised.shape[0] == batch else noised.repeat(batch, 1, 1, 1)


def low_res_pixels(model, image: np.ndarray, batch: int) -> torch.Tensor:
    """CompVis LDM-BSR's conditioning: the clean low-res image in [-1, 1]."""
    return images_to_tensor(image, device=model.device, dtype=model.dtype).repeat(batch, 1, 1, 1)


def is_inpainting_model(model) -> bool:
    """A model whose UNet takes mask + masked image channels (SD 9-channel, CompVis LDM inpainting)."""
    return model.config.conditioning in ("hybrid", "concat") and "upscale" not in model.config.modes
