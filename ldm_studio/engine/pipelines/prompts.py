"""Prompt text → UNet context the way A1111 does it: emphasis weights, BREAK, 75-token chunks.

`(word)` ×1.1, `[word]` ÷1.1, `(word:1.3)` sets a factor, brackets nest and multiply, `\\(` `\\)` `\\[` `\\]`
are literal, unclosed brackets apply to the end. Each 75-token chunk is wrapped in BOS … EOS, padded to 77
and encoded on its own; the contexts are concatenated along the sequence. Weights scale the context
vectors of their tokens, then each chunk is rescaled so its mean is what it was before weighting.
A plain prompt of at most 75 tokens gives exactly the context of its 77 padded ids, as diffusers does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import NamedTuple

import torch
from torch import nn

from ldm_studio.engine.pipelines.tokenizer import CHUNK_LENGTH, ClipTokenizer

ROUND_FACTOR = 1.1
SQUARE_FACTOR = 1 / 1.1
# Limits of our own (A1111 has none, and `(red:1e40)` or 5,000 nested brackets there give NaN and a black
# image): brackets nested deeper than MAX_NESTING still pair up but weigh nothing more, and every weight
# is clamped to ±MAX_EMPHASIS (1.1 ** 48 is already 97; useful weights stay below 2).
MAX_NESTING = 32
MAX_EMPHASIS = 100.0
BREAK = ("BREAK", -1.0)  # the part that ends a chunk early, as A1111 marks it

_SYNTAX = re.compile(
    r"""
      \\[()\[\]\\]?             # escaped bracket or backslash (a lone backslash is dropped)
    | \(  | \[                  # open an emphasis
    | :\s*([+-]?[.\d]+)\s*\)    # close a round bracket with an explicit factor
    | \)  | \]                  # close an emphasis
    | [^\\()\[\]:]+             # plain text
    | :                         # a colon that sets no factor
    """,
    re.VERBOSE,
)
_BREAK_WORD = re.compile(r"\s*\bBREAK\b\s*")


class PromptChunk(NamedTuple):
    ids: list[int]  # 77 ids: BOS, up to 75 prompt tokens, EOS, padding
    weights: list[float]  # one emphasis factor per id (1.0 for BOS, EOS and padding)
    # Textual-inversion slots: (position in the 77, the vector that replaces its token embedding).
    vectors: tuple[tuple[int, torch.Tensor], ...] = ()


def _factor(text: str | None) -> float | None:
    try:
        return None if text is None else float(text)
    except ValueError:  # "1.2.3" is text, not a factor
        return None


def parse_emphasis(prompt: str) -> list[tuple[str, float]]:
    """Split a prompt into (text, factor) parts; `BREAK` parts end a chunk. Never empty."""
    parts: list[list] = []  # [text, factor, is_break]
    open_round: list[int] = []
    open_square: list[int] = []

    def scale_from(start: int, factor: float) -> None:
        if start < 0:  # a bracket past MAX_NESTING
            return
        for part in parts[start:]:
            if not part[2]:
                part[1] *= factor

    for match in _SYNTAX.finditer(prompt):
        token, factor = match.group(0), _factor(match.group(1))
        if token.startswith("\\"):
            parts.append([token[1:], 1.0, False])
        elif token in "([":
            deep = len(open_round) + len(open_square) >= MAX_NESTING
            (open_round if token == "(" else open_square).append(-1 if deep else len(parts))
        elif factor is not None and open_round:
            scale_from(open_round.pop(), factor)
        elif token == ")" and open_round:
            scale_from(open_round.pop(), ROUND_FACTOR)
        elif token == "]" and open_square:
            scale_from(open_square.pop(), SQUARE_FACTOR)
        else:  # text, or a bracket with nothing to close: literal
            for i, piece in enumerate(_BREAK_WORD.split(token)):
                if i:
                    parts.append([*BREAK, True])
                parts.append([piece, 1.0, False])
    for start in open_round:
        scale_from(start, ROUND_FACTOR)
    for start in open_square:
        scale_from(start, SQUARE_FACTOR)

    merged: list[list] = []  # neighbours with the same factor tokenize as one text
    for part in parts:
        part[1] = min(max(part[1], -MAX_EMPHASIS), MAX_EMPHASIS)
        if merged and not part[2] and not merged[-1][2] and merged[-1][1] == part[1]:
            merged[-1][0] += part[0]
        else:
            merged.append(part)
    return [BREAK if is_break else (text, factor) for text, factor, is_break in merged] or [("", 1.0)]


def _wrap(tokenizer: ClipTokenizer, ids: list[int], weights: list[float], vectors=()) -> PromptChunk:
    padded = tokenizer.wrap_and_pad(ids)
    return PromptChunk(padded, [1.0, *weights] + [1.0] * (len(padded) - 1 - len(weights)), tuple(vectors))


def prompt_chunks(
    tokenizer: ClipTokenizer, prompt: str, embeddings: Mapping[str, torch.Tensor] | None = None
) -> list[PromptChunk]:
    """The prompt as 75-token chunks with per-token emphasis (at least one chunk, even when empty).

    `embeddings`: textual-inversion words → their [n, width] vectors (see `_token_groups`)."""
    chunks: list[PromptChunk] = []
    ids: list[int] = []
    weights: list[float] = []
    vectors: list[tuple[int, torch.Tensor]] = []
    for text, factor in parse_emphasis(prompt):
        if (text, factor) == BREAK:
            chunks.append(_wrap(tokenizer, ids, weights, vectors))
            ids, weights, vectors = [], [], []
            continue
        for group in _token_groups(tokenizer, text, embeddings):
            # A group (one token, or one embedding's n slots) is not split across chunks when it fits one.
            if ids and len(ids) + len(group) > CHUNK_LENGTH:
                chunks.append(_wrap(tokenizer, ids, weights, vectors))
                ids, weights, vectors = [], [], []
            for token, vector in group:
                if len(ids) == CHUNK_LENGTH:
                    chunks.append(_wrap(tokenizer, ids, weights, vectors))
                    ids, weights, vectors = [], [], []
                if vector is not None:
                    vectors.append((len(ids) + 1, vector))  # + 1: after BOS
                ids.append(token)
                weights.append(factor)
    if ids or not chunks:
        chunks.append(_wrap(tokenizer, ids, weights, vectors))
    return chunks


# The id an embedding's slots carry: any id below EOS (the pooled output finds EOS as the highest id);
# its token embedding is replaced by the embedding's vector before the first layer.
EMBEDDING_SLOT_ID = 0


def _token_groups(
    tokenizer: ClipTokenizer, text: str, embeddings: Mapping[str, torch.Tensor] | None
) -> Iterator[list[tuple[int, torch.Tensor | None]]]:
    """The text's tokens one by one; an embedding word (whole word, any case, as CLIP lower-cases)
    becomes one group of its n slots. The text around it is tokenized on its own (CLIP splits on word
    boundaries before BPE, so the ids are the same as tokenizing the whole text)."""
    if not embeddings:
        for token in tokenizer.tokenize(text):
            yield [(token, None)]
        return
    by_name = {name.lower(): vectors for name, vectors in embeddings.items()}
    names = "|".join(re.escape(name) for name in sorted(by_name, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w])({names})(?![\w])", re.IGNORECASE)
    last = 0
    for match in pattern.finditer(text):
        for token in tokenizer.tokenize(text[last : match.start()]):
            yield [(token, None)]
        yield [(EMBEDDING_SLOT_ID, vector) for vector in by_name[match.group(1).lower()]]
        last = match.end()
    for token in tokenizer.tokenize(text[last:]):
        yield [(token, None)]


@contextmanager
def _embedding_vectors(encoder: nn.Module, chunks: list[PromptChunk]):
    """While encoding `chunks`, their embedding slots get the embedding's vectors as token embeddings.

    The token table may be kept in half precision under a float32 encoder: the looked-up rows are then
    promoted to the position embedding's dtype first (exact; the addition would promote them anyway), so
    the vectors are not rounded to half."""
    embeddings = encoder.transformer.embeddings
    dtype = embeddings.position_embedding.weight.dtype

    def replace(_module, _inputs, output: torch.Tensor) -> torch.Tensor:
        out = output.to(dtype) if output.dtype != dtype else output.clone()
        for index, chunk in enumerate(chunks):
            for slot, vector in chunk.vectors:
                out[index, slot] = vector.to(out.device, out.dtype)
        return out

    handle = embeddings.token_embedding.register_forward_hook(replace)
    try:
        yield
    finally:
        handle.remove()


@torch.no_grad()
def encode_chunks(encoder: nn.Module, chunks: list[PromptChunk]) -> torch.Tensor:
    """Context [1, 77·k, hidden] of k chunks, emphasis applied with each chunk's mean restored."""
    device = next(encoder.parameters()).device
    uses_vectors = any(chunk.vectors for chunk in chunks)
    with _embedding_vectors(encoder, chunks) if uses_vectors else nullcontext():
        context = encoder(torch.tensor([chunk.ids for chunk in chunks], device=device))  # [k, 77, hidden]
    weights = torch.tensor([chunk.weights for chunk in chunks], device=device, dtype=torch.float32)
    if not torch.all(weights == 1):
        # Scale in fp32: the mean ratio is too coarse in half precision.
        plain = context.float()
        weighted = plain * weights[..., None]
        new_mean = weighted.mean(dim=(1, 2), keepdim=True)
        ratio = plain.mean(dim=(1, 2), keepdim=True) / new_mean
        # A context whose mean is zero up to rounding (a LayerNorm with no learned bias) has no mean to
        # restore: the ratio of two rounding errors would rescale the whole prompt by noise.
        meaningful = new_mean.abs() > 1e-4 * weighted.abs().mean(dim=(1, 2), keepdim=True)
        context = (weighted * torch.where(meaningful, ratio, torch.ones_like(ratio))).to(context.dtype)
    return context.reshape(1, -1, context.shape[-1])


def encode_prompt_pair(
    encoder: nn.Module,
    tokenizer: ClipTokenizer,
    prompt: str,
    negative: str,
    embeddings: Mapping[str, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(cond, uncond) contexts, each [1, 77·k, hidden] with the same k: the shorter gets empty chunks.

    `embeddings`: textual-inversion words → [n, hidden] vectors for this encoder, in either prompt."""
    cond = prompt_chunks(tokenizer, prompt, embeddings)
    uncond = prompt_chunks(tokenizer, negative, embeddings)
    empty = _wrap(tokenizer, [], [])
    k = max(len(cond), len(uncond))
    cond += [empty] * (k - len(cond))
    uncond += [empty] * (k - len(uncond))
    return encode_chunks(encoder, cond), encode_chunks(encoder, uncond)
