"""Crops of 512-pixel renders for the upscaler and its autoencoder: mostly over the object's outline.

Edges are all an upscaler has to learn (flat areas are trivial), so three crops in four are centred
near the object's outline and one in four lies anywhere, which keeps the flat backgrounds in view.
Corners fall on the 4-pixel grid, so a crop's 4× box-downsample is a crop of the 128-pixel image.
"""

from __future__ import annotations

import numpy as np

from ldm_studio.training.dataset import SIZES, Scene, random_scene, render_scene

RENDER_SIZE, FACTOR = 512, 4
ANYWHERE = 0.25


def render_pool(count: int, rng: np.random.Generator) -> tuple[list[Scene], np.ndarray]:
    """`count` training scenes and their (count, 512, 512, 3) renders."""
    scenes = [random_scene(rng) for _ in range(count)]
    return scenes, np.stack([render_scene(s, RENDER_SIZE) for s in scenes])


def crop_corner(scene: Scene, rng: np.random.Generator, crop: int) -> tuple[int, int]:
    """(y, x) of a `crop`-pixel crop of the scene's render, on the 4-pixel grid."""
    limit = (RENDER_SIZE - crop) // FACTOR
    if rng.random() < ANYWHERE:
        return tuple(int(v) * FACTOR for v in rng.integers(0, limit + 1, size=2))
    cx, cy = (v * RENDER_SIZE for v in scene.centre)
    reach = SIZES[scene.size] * RENDER_SIZE
    px, py = rng.uniform(-reach, reach, size=2)
    corner = [(c + p - crop / 2) / FACTOR for c, p in ((cy, py), (cx, px))]
    return tuple(int(np.clip(round(v), 0, limit)) * FACTOR for v in corner)


def pool_crops(
    scenes: list[Scene], renders: np.ndarray, count: int, rng: np.random.Generator, crop: int
) -> np.ndarray:
    """(count, crop, crop, 3) uint8 crops of randomly picked renders."""
    out = []
    for _ in range(count):
        pick = int(rng.integers(len(scenes)))
        y, x = crop_corner(scenes[pick], rng, crop)
        out.append(renders[pick][y : y + crop, x : x + crop])
    return np.stack(out)


def box_downsample(images: np.ndarray, factor: int = FACTOR) -> np.ndarray:
    """(N, H, W, 3) → (N, H/f, W/f, 3) float mean over f×f blocks (how the 128-pixel images are made)."""
    n, h, w, c = images.shape
    return images.reshape(n, h // factor, factor, w // factor, factor, c).mean((2, 4))
