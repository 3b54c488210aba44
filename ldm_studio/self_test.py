"""`ldm-studio --self-test`: prove an installation works, headless, on the bundled demo models.

Checks the resources, then runs a short txt2img, an inpaint and an upscale, writes the PNGs to a
temporary folder, reads them back, and prints one line. Exit 0 on success; otherwise 1 and the reason.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from ldm_studio.engine.errors import ResourceError
from ldm_studio.resources import resource_path

REQUIRED_RESOURCES = (
    ("tokenizer", "vocab.json"),
    ("tokenizer", "merges.txt"),
    ("models", "demo-txt2img.safetensors"),
    ("models", "demo-upscaler.safetensors"),
)


def check_resources() -> None:
    """Raise ResourceError naming the first bundled file that is missing or empty."""
    for parts in REQUIRED_RESOURCES:
        path = resource_path(*parts)
        if not path.is_file() or path.stat().st_size == 0:
            raise ResourceError(f"the bundled file {path} is missing or empty: reinstall ldm-studio")


def _run(model, request) -> list:
    from ldm_studio.engine.pipelines.run import run
    from ldm_studio.engine.requests import Result

    results = [e for e in run(model, request, threading.Event()) if isinstance(e, Result)]
    if not results:
        raise AssertionError(f"{request.mode} produced no image")
    return results[0]


def _save_and_check(result, request, path: Path, size: tuple[int, int]) -> None:
    """Save the first image as the app does, then read it back: size, content and parameters."""
    from PIL import Image

    from ldm_studio.engine.metadata.png import read_png_request
    from ldm_studio.engine.outputs import save_png_atomic

    path = save_png_atomic(result.images[0], result.infotexts[0], request, path)

    with Image.open(path) as image:
        if image.size != size:
            raise AssertionError(f"{path.name} is {image.size}, expected {size}")
        if np.asarray(image).std() < 1.0:
            raise AssertionError(f"{path.name} is a flat image")
    if read_png_request(path) is None:
        raise AssertionError(f"{path.name} has no readable parameters")


def run_self_test(steps: int = 6) -> str:
    """Run the checks; return the summary line or raise with the reason."""
    from ldm_studio.engine.checkpoints.demo_models import demo_model_path
    from ldm_studio.engine.checkpoints.loading import load_model
    from ldm_studio.engine.requests import GenerationRequest

    check_resources()
    start = time.monotonic()
    generator = load_model(demo_model_path("txt2img"), device="cpu")
    upscaler = load_model(demo_model_path("upscale"), device="cpu")
    width, height = generator.config.default_size
    with tempfile.TemporaryDirectory(prefix="ldm-studio-self-test-") as folder:
        txt2img = GenerationRequest(prompt="a red circle on a blue background", steps=steps, seed=1,
                                    width=width, height=height)  # fmt: skip
        image = _run(generator, txt2img)
        _save_and_check(image, txt2img, Path(folder) / "txt2img.png", (width, height))

        pixels = np.asarray(image.images[0].convert("RGB"))
        mask = np.zeros(pixels.shape[:2], np.uint8)
        mask[height // 4 : height // 2, width // 4 : width // 2] = 255
        inpaint = txt2img.replace(mode="inpaint", prompt="a yellow square", init_image=pixels, mask=mask)
        painted = _run(generator, inpaint)
        _save_and_check(painted, inpaint, Path(folder) / "inpaint.png", (width, height))
        if not np.array_equal(np.asarray(painted.images[0])[mask == 0], pixels[mask == 0]):
            raise AssertionError("inpainting changed pixels outside the mask")

        upscale = GenerationRequest(mode="upscale", init_image=pixels, steps=steps, seed=1)
        bigger = _run(upscaler, upscale)
        factor = upscaler.config.vae.downscale
        _save_and_check(bigger, upscale, Path(folder) / "upscale.png", (width * factor, height * factor))
    return (
        f"self-test passed: txt2img {width}x{height}, inpaint, upscale to {width * factor}x{height * factor} "
        f"on the demo models in {time.monotonic() - start:.1f} s"
    )
