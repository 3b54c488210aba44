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
