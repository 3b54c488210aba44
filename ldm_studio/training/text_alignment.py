"""Teach the demo text encoder what captions say before (and while) the UNet learns to listen.

SD's text encoder came from CLIP, pretrained to line captions up with images; ours starts random. A
random tower's contexts differ between prompts mostly at the word positions, and a cross-attention that
starts out averaging over 77 tokens reads almost none of that: in our runs the UNet never learned to take
colours from the prompt, and a tower trained jointly just learned to erase the differences. This stands
in for CLIP's pretraining with what the dataset knows of each caption: a linear head must read the
background colour, object colour, shape and position off the mean of the context over all 77 positions,
exactly what an untrained cross-attention sees. The head is training-only and never exported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ldm_studio.training.common import step_rng
from ldm_studio.training.dataset import COLOURS, POSITIONS, SHAPES, Scene, caption, random_scene

ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "background": COLOURS,
    "colour": COLOURS,
    "shape": SHAPES,
    "position": tuple(POSITIONS),
}


class AttributeHead(nn.Module):
    """One linear read-out per attribute from the context's mean over positions."""

    def __init__(self, width: int):
        super().__init__()
        self.heads = nn.ModuleDict(
            {name: nn.Linear(width, len(values)) for name, values in ATTRIBUTES.items()}
        )

    def loss(self, context: torch.Tensor, scenes: Sequence[Scene | None]) -> torch.Tensor:
        """Mean cross-entropy over attributes, for the captions that were not dropped (scene None)."""
        kept = [i for i, scene in enumerate(scenes) if scene is not None]
        if not kept:
            return context.sum() * 0.0
        pooled = context[kept].mean(dim=1)
        losses = []
        for name, values in ATTRIBUTES.items():
            target = torch.tensor(
                [values.index(getattr(scenes[i], name)) for i in kept], device=pooled.device
            )
            losses.append(F.cross_entropy(self.heads[name](pooled), target))
        return torch.stack(losses).mean()


def pretrain_text_encoder(
    text: nn.Module,
    head: AttributeHead,
    tokens: Callable[[list[str]], torch.Tensor],
    *,
    steps: int,
    seed: int,
    batch: int = 64,
    lr: float = 2e-3,
    log: Callable[[str], None] = print,
) -> None:
    """Train the encoder and head alone on fresh training-split captions (seconds, not minutes)."""
    optimizer = torch.optim.Adam([*text.parameters(), *head.parameters()], lr=lr)
    for step in range(steps):
        rng = step_rng(seed, step, stream=2)  # apart from the UNet's streams
        scenes = [random_scene(rng) for _ in range(batch)]
        loss = head.loss(text(tokens([caption(s, rng) for s in scenes])), scenes)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if (step + 1) % 100 == 0 or step + 1 == steps:
            log(f"text pretraining {step + 1}/{steps}: attribute loss {float(loss.detach()):.4f}")


def attribute_accuracy(
    text: nn.Module, head: AttributeHead, tokens: Callable[[list[str]], torch.Tensor], scenes: list[Scene]
) -> dict[str, float]:
    """Share of `scenes` whose caption (one random phrasing each) the head reads right, per attribute."""
    rng = np.random.default_rng(0)
    with torch.no_grad():
        pooled = text(tokens([caption(s, rng) for s in scenes])).mean(dim=1)
    return {
        name: float(
            np.mean(
                [
                    values[int(i)] == getattr(s, name)
                    for i, s in zip(head.heads[name](pooled).argmax(-1), scenes, strict=True)
                ]
            )
        )
        for name, values in ATTRIBUTES.items()
    }
