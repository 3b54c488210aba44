"""The training images' latents, encoded once by the frozen autoencoder and cached in the run folder."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ldm_studio.training.common import step_rng
from ldm_studio.training.dataset import Scene, random_scene, render_scene
from ldm_studio.training.tensors import to_model_range
from ldm_studio.training.train_autoencoder import load_weights

CACHE = "latents.pt"
ENCODE_BATCH = 32


@dataclass
class LatentData:
    latents: torch.Tensor  # [N, 4, 32, 32], unscaled posterior means
    scenes: list[Scene]
    scale_factor: float  # 1 / std of the latents: the UNet sees unit-variance latents, as SD's 0.18215 gives


def encode_images(model, images: np.ndarray, device: str = "cpu") -> torch.Tensor:
    """Posterior means (on the CPU) of uint8 images (N, H, W, 3), in batches, without gradients."""
    model.to(device)
    with torch.inference_mode():
        chunks = [
            model.encode(to_model_range(images[i : i + ENCODE_BATCH]).to(device)).cpu()
            for i in range(0, len(images), ENCODE_BATCH)
        ]
    return torch.cat(chunks)


def cached_latents(out: Path, autoencoder: Path, count: int, seed: int, device: str = "cpu") -> LatentData:
    """Latents of `count` training scenes drawn from `seed`; read from OUT/latents.pt when already made."""
    path = out / CACHE
    if path.exists():
        saved = torch.load(path, weights_only=False)
        if saved["count"] == count and saved["seed"] == seed:
            return LatentData(saved["latents"], [Scene(**s) for s in saved["scenes"]], saved["scale_factor"])
    rng = step_rng(seed, 0, stream=7)
    scenes = [random_scene(rng) for _ in range(count)]
    model = load_weights(autoencoder).eval()
    latents = encode_images(model, np.stack([render_scene(s) for s in scenes]), device)
    data = LatentData(latents, scenes, float(1 / latents.std()))
    state = {"count": count, "seed": seed, "latents": latents, "scale_factor": data.scale_factor}
    state["scenes"] = [dataclasses.asdict(s) for s in scenes]
    torch.save(state, path)
    return data
