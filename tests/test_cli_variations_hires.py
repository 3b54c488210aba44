"""CLI: every image of a batch carries its own seed; variations and hires fix as a terminal user runs them."""

import subprocess
import sys

from PIL import Image

from ldm_studio.engine.metadata import read_png_request


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ldm_studio", *map(str, args)], capture_output=True, text=True, timeout=300
    )


def _generate(out, *extra) -> subprocess.CompletedProcess:
    # The bundled demo model (resources/models): no --model.
    return _cli("generate", "--prompt", "a red circle", "--steps", 2, "--seed", 7, "--width", 64,
                "--height", 64, "--out", out, *extra)  # fmt: skip


def test_a_batch_saves_each_image_under_its_own_seed(tmp_path):
    done = _generate(tmp_path, "--batch", 2, "--variation-seed", 100, "--variation-strength", 0.5)
    assert done.returncode == 0, done.stderr
    paths = sorted(tmp_path.glob("*.png"))
    assert len(paths) == 2
    stored = [read_png_request(path) for path in paths]
    # A variation batch keeps the seed and steps the variation seed (A1111's rule).
    assert [(r.seed, r.variation_seed, r.batch_size) for r in stored] == [(7, 100, 1), (7, 101, 1)]
    with Image.open(paths[1]) as image:
        assert "Seed: 7," in image.text["parameters"]
        assert "Variation seed: 101, Variation seed strength: 0.5" in image.text["parameters"]

    plain = _generate(tmp_path / "plain", "--batch", 2)
    assert plain.returncode == 0, plain.stderr
    names = sorted(path.name for path in (tmp_path / "plain").glob("*.png"))
    assert names == ["00001-7.png", "00002-8.png"]


def test_hires_fix_writes_the_scaled_image_with_a1111_hires_parameters(tmp_path):
    out = tmp_path / "hires.png"
    done = _generate(out, "--hires-scale", 2, "--hires-steps", 4, "--hires-denoise", 0.5)
    assert done.returncode == 0, done.stderr
    with Image.open(out) as image:
        assert image.size == (128, 128)
        text = image.text["parameters"]
    assert "Size: 64x64," in text  # the first pass's size, as A1111 writes it
    assert "Denoising strength: 0.5, Hires upscale: 2, Hires steps: 4, Hires upscaler: Latent" in text
    stored = read_png_request(out)
    assert (stored.hires, stored.hires_scale, stored.hires_steps, stored.width) == (True, 2.0, 4, 64)
    assert "2/2" not in done.stderr and "4/4" in done.stderr  # one bar for both: 2 + int(4 · 0.5) steps


def test_hires_options_without_a_scale_are_refused(tmp_path):
    done = _generate(tmp_path / "x.png", "--hires-denoise", 0.4)
    assert done.returncode == 2 and "--hires-denoise need --hires-scale" in done.stderr
    assert not list(tmp_path.iterdir())
