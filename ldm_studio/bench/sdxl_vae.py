"""SDXL's VAE decode with both sides' VAEs in one process, alternated: the steadier of the two VAE rows.

The whole SDXL pipelines cannot share a process on a 24 GB machine (bench/sdxl.py runs them one after
the other, so machine drift lands on one side), but the two VAEs can (≈335 MB each in fp32). This row
times them as the SD 1.x bench does: the same weights from the file, the same latents, decoded in turn
with the order swapped every round, the median of each side.
"""

from __future__ import annotations

import statistics
import time

import torch

from ldm_studio.bench.spec import SEED, BenchSpec


def _vaes(path: str):
    """(ours, diffusers') VAE from the file's `first_stage_model.*` tensors, fp32 on the CPU, eval mode."""
    from ldm_studio.bench import reference
    from ldm_studio.engine.checkpoints.detection import resolve_family
    from ldm_studio.engine.checkpoints.files import open_checkpoint
    from ldm_studio.engine.checkpoints.loading import build_net
    from ldm_studio.engine.checkpoints.shapes import VAE_PREFIX
    from ldm_studio.engine.nets.autoencoder import Autoencoder

    with open_checkpoint(path) as reader:
        family, _, _ = resolve_family(reader)
        full = {key: reader.tensor(key).float() for key in reader.tensors if key.startswith(VAE_PREFIX)}
    state = {key[len(VAE_PREFIX) :]: tensor for key, tensor in full.items()}
    ours = build_net(Autoencoder, family.vae, state, torch.device("cpu"), torch.float32, "VAE")
    theirs = reference.diffusers_vae(full, family.unet, family.vae).eval().requires_grad_(False)
    return ours, theirs


def alternated_vae_decode(spec: BenchSpec, rounds: int = 4) -> dict[str, dict]:
    """Per side: the median wall seconds of `rounds` decodes at spec.size (one untimed each first)."""
    from ldm_studio.bench.timing import set_threads
    from ldm_studio.engine.pipelines.vae_codec import decode_latents

    if spec.threads:
        set_threads(spec.threads)
    ours, theirs = _vaes(spec.path)
    side = spec.size // 8
    latents = torch.randn(1, 4, side, side, generator=torch.Generator().manual_seed(SEED))
    decode = {
        "ours": lambda: decode_latents(ours, latents),
        "diffusers": lambda: theirs.decode(latents / theirs.config.scaling_factor).sample,
    }
    samples: dict[str, list[float]] = {name: [] for name in decode}
    with torch.inference_mode():
        for run in decode.values():
            run()  # warm-up: first-call allocations
        for i in range(rounds):
            for name in ("ours", "diffusers") if i % 2 == 0 else ("diffusers", "ours"):
                start = time.perf_counter()
                decode[name]()
                samples[name].append(time.perf_counter() - start)
    return {name: {"wall_s": statistics.median(s), "wall_samples": s} for name, s in samples.items()}
