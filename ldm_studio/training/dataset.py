"""A procedural, captioned dataset of flat shapes on plain backgrounds, deterministic from a seed.

Each image holds one circle, square or triangle in one of eight colours, at one of nine positions, in
one of three sizes, on a background of another colour. Captions vary their phrasing so the text encoder
learns words, not sentence templates.

Held-out split: 48 (shape, colour, background) triples never appear in training under any phrasing,
position or size. Every (colour, background) pair keeps at least one shape in training, so the held-out
set tests recombining known words into captions the model has never seen.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ldm_studio.training.rendering import draw_shape

SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 220, 50),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
    "purple": (140, 50, 180),
    "orange": (245, 140, 30),
}
COLOURS: tuple[str, ...] = tuple(PALETTE)
# Horizontal and vertical centre of the object as a fraction of the image side.
POSITIONS: dict[str, tuple[float, float]] = {
    "center": (0.5, 0.5),
    "left": (0.3, 0.5),
    "right": (0.7, 0.5),
    "top": (0.5, 0.3),
    "bottom": (0.5, 0.7),
    "top left": (0.3, 0.3),
    "top right": (0.7, 0.3),
    "bottom left": (0.3, 0.7),
    "bottom right": (0.7, 0.7),
}
# Half the object's extent as a fraction of the image side; with the 0.3 offsets and the jitter
# below this keeps every object at least 5 % of the side away from the border the checker reads.
SIZES: dict[str, float] = {"small": 0.13, "medium": 0.18, "large": 0.22}
POSITION_JITTER = 0.03
HELD_OUT_COUNT = 48

Split = Literal["train", "heldout"]
Triple = tuple[str, str, str]  # (shape, colour, background)


@dataclass(frozen=True)
class Scene:
    shape: str
    colour: str
    background: str
    position: str
    size: str
    offset: tuple[float, float] = (0.0, 0.0)  # jitter added to the position's centre

    @property
    def centre(self) -> tuple[float, float]:
        x, y = POSITIONS[self.position]
        return x + self.offset[0], y + self.offset[1]

    @property
    def triple(self) -> Triple:
        return (self.shape, self.colour, self.background)


def _held_out_triples() -> tuple[Triple, ...]:
    # A fixed permutation, independent of any training seed: the split never moves.
    rng = np.random.default_rng(20240607)
    pairs = [(c, b) for c, b in itertools.product(COLOURS, COLOURS) if c != b]
    chosen = rng.permutation(len(pairs))[:HELD_OUT_COUNT]
    # Cycle the shape over the chosen pairs so each shape is held out equally often.
    return tuple(
        (SHAPES[i % len(SHAPES)], *pairs[idx]) for i, idx in enumerate(sorted(int(k) for k in chosen))
    )


HELD_OUT_TRIPLES: tuple[Triple, ...] = _held_out_triples()
_HELD_OUT = frozenset(HELD_OUT_TRIPLES)
TRAIN_TRIPLES: tuple[Triple, ...] = tuple(
    (s, c, b)
    for s, c, b in itertools.product(SHAPES, COLOURS, COLOURS)
    if c != b and (s, c, b) not in _HELD_OUT
)


def random_scene(rng: np.random.Generator, split: Split = "train") -> Scene:
    """One scene from the given split, all choices drawn from `rng`."""
    triples = TRAIN_TRIPLES if split == "train" else HELD_OUT_TRIPLES
    shape, colour, background = triples[int(rng.integers(len(triples)))]
    position = list(POSITIONS)[int(rng.integers(len(POSITIONS)))]
    size = list(SIZES)[int(rng.integers(len(SIZES)))]
    offset = tuple(float(v) for v in rng.uniform(-POSITION_JITTER, POSITION_JITTER, size=2))
    return Scene(shape, colour, background, position, size, offset)


_POSITION_PHRASES: dict[str, tuple[str, ...]] = {
    "center": ("in the center", "in the middle"),
    "left": ("on the left", "at the left"),
    "right": ("on the right", "at the right"),
    "top": ("at the top", "near the top"),
    "bottom": ("at the bottom", "near the bottom"),
}


def position_phrase(position: str, variant: int = 0) -> str:
    """'at the top left', 'on the left', 'in the center'… (`variant` picks among synonyms)."""
    if position in _POSITION_PHRASES:
        options = _POSITION_PHRASES[position]
        return options[variant % len(options)]
    return ("at the {}", "in the {} corner")[variant % 2].format(position)


_TEMPLATES: tuple[str, ...] = (
    "a {colour} {shape} on a {background} background",
    "a {colour} {shape} {where} on a {background} background",
    "a {size} {colour} {shape} on a {background} background",
    "a {size} {colour} {shape} {where} on a {background} background",
    "a {background} background with a {colour} {shape}",
    "a {background} background with a {size} {colour} {shape} {where}",
    "{colour} {shape} on {background}",
    "a {colour} {shape} {where}, {background} background",
    "a picture of a {colour} {shape} on a {background} background",
    "a {colour} {shape}",
)


def caption(scene: Scene, rng: np.random.Generator) -> str:
    """A caption for `scene` in one of several phrasings, chosen by `rng`."""
    template = _TEMPLATES[int(rng.integers(len(_TEMPLATES)))]
    where = position_phrase(scene.position, int(rng.integers(2)))
    text = template.format(
        colour=scene.colour, shape=scene.shape, background=scene.background, size=scene.size, where=where
    )
    return _fix_articles(text)


def _fix_articles(text: str) -> str:
    # "a orange" -> "an orange": the tokenizer sees what a person would type.
    words = text.split(" ")
    for i in range(len(words) - 1):
        if words[i] == "a" and words[i + 1][:1] in "aeiou":
            words[i] = "an"
    return " ".join(words)


def canonical_caption(scene: Scene) -> str:
    """The one phrasing the held-out evaluation uses: colour, shape, position and background."""
    where = position_phrase(scene.position)
    return _fix_articles(f"a {scene.colour} {scene.shape} {where} on a {scene.background} background")


def held_out_scenes(per_triple: int = 1, seed: int = 0) -> list[Scene]:
    """`per_triple` scenes for every held-out triple, with positions and sizes drawn from `seed`."""
    rng = np.random.default_rng(seed)
    scenes = []
    for shape, colour, background in HELD_OUT_TRIPLES:
        for _ in range(per_triple):
            drawn = random_scene(rng, "heldout")
            scenes.append(Scene(shape, colour, background, drawn.position, drawn.size, drawn.offset))
    return scenes


def render_scene(scene: Scene, size: int = 128) -> np.ndarray:
    """The scene as a (size, size, 3) uint8 image; the same geometry at every size."""
    return draw_shape(
        scene.shape, PALETTE[scene.colour], PALETTE[scene.background], scene.centre, SIZES[scene.size], size
    )


def object_coverage(scene: Scene, size: int) -> np.ndarray:
    """(size, size) float32 in [0, 1]: how much of each pixel the object covers."""
    white, black = (255, 255, 255), (0, 0, 0)
    mask = draw_shape(scene.shape, white, black, scene.centre, SIZES[scene.size], size)
    return mask[..., 0].astype(np.float32) / 255.0


def make_examples(
    count: int, seed: int, split: Split = "train", size: int = 128
) -> tuple[np.ndarray, list[str]]:
    """`count` images (N, size, size, 3) uint8 with one caption each, the same for the same seed."""
    rng = np.random.default_rng(seed)
    scenes = [random_scene(rng, split) for _ in range(count)]
    captions = [caption(s, rng) for s in scenes]
    images = np.stack([render_scene(s, size) for s in scenes])
    return images, captions
