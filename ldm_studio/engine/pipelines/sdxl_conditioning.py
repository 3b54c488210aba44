"""SDXL's conditioning: the context of its text towers and the vector `y` (docs/MODEL_FACTS.md).

- Context: the chunk contexts of each tower concatenated along the width, CLIP-L's first then bigG's
  (the refiner has bigG alone), each the penultimate layer without the final LayerNorm. Prompts longer
  than 75 tokens become 77-id chunks on both towers (both use the same BPE, so the chunks line up) and
  emphasis is applied per tower as for SD 1.x / 2.x (prompts.py).
- Pooled: bigG's projected pooled vector of the FIRST chunk (diffusers and A1111 take it from there).
- `y`: the pooled vector followed by the micro-conditioning embeddings (nets/sdxl_embed.py): original size
  = target size = the image size, crop (0, 0); the refiner has an aesthetic score instead of the target
  size, 6.0 for the prompt and 2.5 for the negative (sgm's and diffusers' defaults).
- An empty negative prompt: GenerationRequest.empty_negative. "auto" (the default) follows the released
  diffusers configs: zeros for SDXL base / inpainting (`force_zeros_for_empty_prompt`: the uncond
  context and pooled vector are zeros), the encoded "" for the refiner (its config turns that off).
  "zeros" or "encode" ("" encoded like any prompt, as ComfyUI and A1111 do) force one rule.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict

import torch
from torch import nn

from ldm_studio.engine.nets.sdxl_embed import sdxl_refiner_vector, sdxl_vector
from ldm_studio.engine.pipelines.conditioning import embedding_vectors
from ldm_studio.engine.pipelines.prompts import encode_chunks, prompt_chunks
from ldm_studio.engine.sampling.denoisers import Conditioning

EMPTY_NEGATIVE_RULES = ("auto", "zeros", "encode")
AESTHETIC_SCORE, NEGATIVE_AESTHETIC_SCORE = 6.0, 2.5

_RECENT_PROMPTS = 8
_recent: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class _PooledCapture(nn.Module):
    """The pooled tower seen as a context-only encoder by `encode_chunks`, keeping the pooled vectors."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.pooled: torch.Tensor | None = None

    @property
    def transformer(self) -> nn.Module:  # what textual-inversion hooks reach for, as on the tower itself
        return self.encoder.transformer

    @property
    def config(self):
        return self.encoder.config

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        context, self.pooled = self.encoder(input_ids, return_pooled=True)
        return context


def _towers(model) -> list[tuple[nn.Module, object]]:
    pairs = [(model.text_encoder, model.tokenizer), (model.text_encoder_2, model.tokenizer_2)]
    return [(encoder, tokenizer) for encoder, tokenizer in pairs if encoder is not None]


def _tower_vectors(encoder: nn.Module, embeddings: dict | None) -> dict | None:
    """Textual-inversion vectors for one tower: `clip_l` for CLIP-L ("te1"), `clip_g` for bigG ("te2")."""
    component = "te2" if encoder.config.pooled else "te1"
    return embedding_vectors(embeddings, component, encoder.config.hidden_size)


def encode_sdxl_pair(model, prompt: str, negative: str, zero_negative: bool, embeddings: dict | None = None):
    """((cond context, cond pooled), (uncond context, uncond pooled)); contexts [1, 77·k, width] with the
    same k, pooled [1, projection]. `zero_negative`: the uncond half is zeros (diffusers' empty prompt).
    `embeddings`: {word: Embedding}; each tower takes its own vectors in the same token slots."""
    towers = _towers(model)
    chunked = []
    for encoder, tok in towers:
        vectors = _tower_vectors(encoder, embeddings)
        chunked.append((prompt_chunks(tok, prompt, vectors), prompt_chunks(tok, negative, vectors)))
    k = max(max(len(c), len(u)) for c, u in chunked)
    halves: list[list[torch.Tensor]] = [[], []]
    pooled: list[torch.Tensor | None] = [None, None]
    for (encoder, tokenizer), pair in zip(towers, chunked, strict=True):
        empty = prompt_chunks(tokenizer, "")[0]
        for half, chunks in enumerate(pair):
            chunks = chunks + [empty] * (k - len(chunks))
            if encoder.config.pooled:
                capture = _PooledCapture(encoder)
                halves[half].append(encode_chunks(capture, chunks))
                pooled[half] = capture.pooled[:1]  # the first chunk's
            else:
                halves[half].append(encode_chunks(encoder, chunks))
    cond = (torch.cat(halves[0], dim=-1), pooled[0])
    uncond = (torch.cat(halves[1], dim=-1), pooled[1])
    if zero_negative:
        uncond = (torch.zeros_like(cond[0]), torch.zeros_like(cond[1]))
    return cond, uncond


def zeroes_empty_negative(model, negative: str, rule: str) -> bool:
    """Whether the uncond half is zeros for this model, negative prompt and `empty_negative` rule."""
    if negative.strip():
        return False
    if rule == "auto":
        return model.config.name != "sdxl-refiner"
    return rule == "zeros"


def _cached_pair(model, prompt: str, negative: str, zero_negative: bool, embeddings: dict | None = None):
    encoder = model.text_encoder
    recent = _recent.setdefault(encoder, OrderedDict())
    weight = list(encoder.parameters())[-1]
    used = tuple((name, id(embedding)) for name, embedding in (embeddings or {}).items())
    key = (prompt, negative, zero_negative, weight.dtype, weight.device, *used)
    keep = torch.is_inference_mode_enabled()
    if keep and key in recent:
        recent.move_to_end(key)
        return recent[key]
    result = encode_sdxl_pair(model, prompt, negative, zero_negative, embeddings)
    if keep:
        recent[key] = result
        while len(recent) > _RECENT_PROMPTS:
            recent.popitem(last=False)
    return result


def forget_sdxl_prompts() -> None:
    """Drop every remembered SDXL prompt encoding (after changing an encoder's weights in place)."""
    _recent.clear()


def sdxl_vectors(model, pooled: torch.Tensor, uncond_pooled: torch.Tensor, size: tuple[int, int]):
    """(y, uncond y) in float32 for an image of `size` (width, height) in pixels."""
    width, height = size
    original = (height, width)
    if model.config.unet.adm_in_channels == pooled.shape[-1] + 5 * 256:  # the refiner: aesthetic score
        return (
            sdxl_refiner_vector(pooled, original, (0, 0), AESTHETIC_SCORE),
            sdxl_refiner_vector(uncond_pooled, original, (0, 0), NEGATIVE_AESTHETIC_SCORE),
        )
    return (
        sdxl_vector(pooled, original, (0, 0), original),
        sdxl_vector(uncond_pooled, original, (0, 0), original),
    )


def sdxl_pair(
    model,
    prompt: str,
    negative: str,
    batch: int,
    size: tuple[int, int],
    concat: torch.Tensor | None = None,
    empty_negative: str = "auto",
    embeddings: dict | None = None,
) -> tuple[Conditioning, Conditioning]:
    """(cond, uncond) Conditioning of an SDXL model for a batch of images of `size` (width, height);
    `embeddings`: the textual-inversion words the prompts use ({word: Embedding})."""
    if empty_negative not in EMPTY_NEGATIVE_RULES:
        raise ValueError(f"empty_negative must be one of {', '.join(EMPTY_NEGATIVE_RULES)}")
    zero = zeroes_empty_negative(model, negative, empty_negative)
    (context, pooled), (uncond_context, uncond_pooled) = _cached_pair(
        model, prompt, negative, zero, embeddings
    )
    y, uncond_y = sdxl_vectors(model, pooled, uncond_pooled, size)
    dtype = model.dtype
    return (
        Conditioning(context.repeat(batch, 1, 1), concat, y.to(model.device, dtype).repeat(batch, 1)),
        Conditioning(
            uncond_context.repeat(batch, 1, 1), concat, uncond_y.to(model.device, dtype).repeat(batch, 1)
        ),
    )
