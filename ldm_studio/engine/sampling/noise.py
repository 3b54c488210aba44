"""Per-image noise: one CPU generator per image of a batch, so every image can be made again alone.

Image i of a batch seeded s is drawn from its own `torch.Generator("cpu").manual_seed(s + i)` (as A1111
numbers a batch), for every random draw of a run: the start noise, the VAE's posterior sample, the
ancestral / SDE samplers' fresh noise, the x4 upscaler's noise augmentation. Regenerating image i with a
batch of one and seed s + i therefore makes the same draws in the same order, and the same pixels. A
batch of one draws exactly what `torch.randn(shape, generator=Generator("cpu").manual_seed(s))` draws,
so it keeps diffusers' images. Seeds wrap modulo 2⁶⁴ (the generator's range): s = 2⁶⁴ − 1 gives image 1
the seed 0.

Variations (A1111's "Variation seed" v): the start noise of image i is slerp(strength, noise(s), noise(v + i))
(the images of a variation batch share the seed, as A1111's); later draws come from the main seed only.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ldm_studio.engine.requests import SEED_MODULUS  # torch's generator takes 64-bit seeds

# Nearly parallel noises: slerp's sin(ω) → 0, a straight blend is exact enough there.
_PARALLEL_DOT = 0.9995


def image_seeds(seed: int, count: int) -> list[int]:
    """The seeds of a batch's images: seed, seed + 1, …, wrapping modulo 2⁶⁴."""
    return [(seed + i) % SEED_MODULUS for i in range(count)]


def slerp(strength: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of one image's noise `low` (strength 0) towards `high` (strength 1).

    `low`, `high`: [C, H, W]. The angle is taken per (channel, column) along dimension 1, as A1111's
    variation noise does, so a "Variation seed" from one of its infotexts gives the same start noise."""
    low_unit = low / torch.linalg.vector_norm(low, dim=1, keepdim=True)
    high_unit = high / torch.linalg.vector_norm(high, dim=1, keepdim=True)
    dot = (low_unit * high_unit).sum(1)
    if dot.mean() > _PARALLEL_DOT:
        return low * (1 - strength) + high * strength
    omega = torch.acos(dot)
    sin_omega = torch.sin(omega)
    to_low = (torch.sin((1.0 - strength) * omega) / sin_omega).unsqueeze(1)
    to_high = (torch.sin(strength * omega) / sin_omega).unsqueeze(1)
    return to_low * low + to_high * high


class NoiseSource:
    """The random draws of one run: one CPU generator per image (and one per image's variation seed)."""

    def __init__(
        self,
        seeds: Sequence[int],
        variation_seeds: Sequence[int] | None = None,
        variation_strength: float = 0.0,
    ) -> None:
        if not seeds:
            raise ValueError("a noise source needs at least one seed")
        if variation_seeds is not None and len(variation_seeds) != len(seeds):
            raise ValueError(f"{len(seeds)} seeds but {len(variation_seeds)} variation seeds")
        self.seeds = [int(s) % SEED_MODULUS for s in seeds]
        self._generators = [torch.Generator("cpu").manual_seed(s) for s in self.seeds]
        self.variation_strength = float(variation_strength) if variation_seeds is not None else 0.0
        self._variations = None
        if variation_seeds is not None and self.variation_strength > 0:
            self._variations = [
                torch.Generator("cpu").manual_seed(int(s) % SEED_MODULUS) for s in variation_seeds
            ]
        self.device = torch.device("cpu")  # where the draws are made (as a torch.Generator's .device)

    @classmethod
    def for_batch(
        cls, seed: int, batch: int, variation_seed: int | None = None, variation_strength: float = 0.0
    ) -> NoiseSource:
        """Image i: seed + i; in a variation run (a variation seed, strength > 0) the same seed for all and
        variation seed + i (A1111's numbering, `GenerationRequest.for_image`)."""
        if variation_seed is None or variation_strength <= 0:
            return cls(image_seeds(seed, batch))
        return cls([seed] * batch, image_seeds(variation_seed, batch), variation_strength)

    @classmethod
    def for_request(cls, request) -> NoiseSource:
        """The noise of a GenerationRequest's batch."""
        return cls.for_batch(
            request.seed, request.batch_size, request.variation_seed, request.variation_strength
        )

    @property
    def batch(self) -> int:
        return len(self._generators)

    def _per_image(self, generators: list[torch.Generator], shape: Sequence[int]) -> torch.Tensor:
        shape = tuple(int(n) for n in shape)
        if shape[0] != len(generators):
            raise ValueError(f"noise for {shape[0]} images asked of a source for {len(generators)}")
        draws = [torch.randn(shape[1:], generator=g, dtype=torch.float32) for g in generators]
        return torch.stack(draws)

    def randn(self, shape: Sequence[int]) -> torch.Tensor:
        """Standard normal noise of `shape` = (batch, …) on the CPU in float32, image i from generator i."""
        return self._per_image(self._generators, shape)

    def start_noise(self, shape: Sequence[int]) -> torch.Tensor:
        """The run's first draw, the start latent's noise: `randn`, bent towards the variation seeds'."""
        noise = self.randn(shape)
        if self._variations is None:
            return noise
        other = self._per_image(self._variations, shape)
        return torch.stack([slerp(self.variation_strength, a, b) for a, b in zip(noise, other, strict=True)])


def draw_noise(generator: torch.Generator | NoiseSource, shape: Sequence[int]) -> torch.Tensor:
    """CPU float32 noise from a plain generator (the whole batch from one) or a per-image source."""
    if isinstance(generator, NoiseSource):
        return generator.randn(shape)
    return torch.randn(tuple(shape), generator=generator, device=generator.device, dtype=torch.float32)
