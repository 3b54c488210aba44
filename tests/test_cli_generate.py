"""The headless commands as a terminal user runs them: files written, never overwritten, clear errors."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.checkpoints import write_tiny_checkpoint


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("models") / "tiny-sd1.safetensors", "sd1")


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ldm_studio", *map(str, args)], capture_output=True, text=True, timeout=300
    )


def _generate(model, out, *extra) -> subprocess.CompletedProcess:
    return _cli("generate", "--model", model, "--prompt", "a red circle", "--steps", 2, "--seed", 7,
                "--width", 64, "--height", 64, "--out", out, *extra)  # fmt: skip


def test_generate_writes_a_png_with_parameters_and_never_overwrites(tiny_model, tmp_path):
    out = tmp_path / "out.png"
    first = _generate(tiny_model, out)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == str(out)
    with Image.open(out) as image:
        assert image.size == (64, 64)
        assert "Seed: 7" in image.text["parameters"] and "a red circle" in image.text["parameters"]
    before = out.read_bytes()

    second = _generate(tiny_model, out)
    assert second.returncode == 0, second.stderr
    written = second.stdout.strip()
    assert written != str(out) and written.endswith(".png")
    assert out.read_bytes() == before
    # Same seed and settings: the same image, now under a new name.
    assert np.array_equal(np.asarray(Image.open(written)), np.asarray(Image.open(out)))
    assert "/20" not in second.stderr and "2/2" in second.stderr  # the progress bar counted the steps


def test_guidance_defaults_to_the_models_own_and_a_given_one_wins(tmp_path):
    # The bundled demo model recommends 3 (SD's 7 overshoots its colours); the sd1 family keeps 7.
    runs = {"own": (), "given": ("--cfg", 5)}
    for name, extra in runs.items():
        done = _cli("generate", "--prompt", "a red circle", "--steps", 1, "--seed", 1, "--width", 64,
                    "--height", 64, "--out", tmp_path / f"{name}.png", *extra)  # fmt: skip
        assert done.returncode == 0, done.stderr
    with Image.open(tmp_path / "own.png") as own, Image.open(tmp_path / "given.png") as given:
        assert "CFG scale: 3," in own.text["parameters"] and "CFG scale: 5," in given.text["parameters"]


def test_upscale_noise_level_defaults_to_the_models_own_and_a_given_one_wins(tmp_path):
    # The bundled demo upscaler was trained on clean renders and recommends 0; SD's x4 keeps 20.
    image = tmp_path / "low.png"
    Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(image)
    for name, extra in {"own": (), "given": ("--noise-level", 20)}.items():
        done = _cli("upscale", "--image", image, "--steps", 1, "--out", tmp_path / f"{name}.png", *extra)
        assert done.returncode == 0, done.stderr
    with Image.open(tmp_path / "own.png") as own, Image.open(tmp_path / "given.png") as given:
        assert own.size == (128, 128)
        assert "Noise level: 0" in own.text["parameters"] and "Noise level: 20" in given.text["parameters"]


def _write_image(path, size):
    Image.fromarray(np.full((size[1], size[0], 3), 120, np.uint8)).save(path)
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("inpaint", "--mask", "MASK40"), "mask is 64x40 but the image is 64x64"),
        (("upscale",), "cannot do upscale"),
        (("generate", "--steps", "0"), "steps must be at least 1"),
        (("generate", "--width", "100"), "width 100 is not a multiple"),
        (("generate", "--strength", "1.5", "--init-image", "IMAGE"), "strength must be between 0 and 1"),
        (("inpaint", "--image", "NOT_AN_IMAGE", "--mask", "MASK40"), "not an image"),
    ],
)
def test_bad_input_prints_one_line_writes_nothing_and_exits_2(tiny_model, tmp_path, args, message):
    image = _write_image(tmp_path / "image.png", (64, 64))
    mask = _write_image(tmp_path / "mask.png", (64, 40))
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("hello")
    replace = {"MASK40": mask, "IMAGE": image, "NOT_AN_IMAGE": not_an_image}
    args = [replace.get(a, a) for a in args]
    command, rest = args[0], args[1:]
    if command in ("inpaint", "upscale") and "--image" not in rest:
        rest = ["--image", image, *rest]
    out = tmp_path / "out.png"
    done = _cli(command, "--model", tiny_model, "--prompt", "x", "--out", out, *rest)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_cfg_rescale_reaches_the_run_and_its_infotext(tiny_model, tmp_path):
    plain, rescaled = tmp_path / "plain.png", tmp_path / "rescaled.png"
    assert _generate(tiny_model, plain).returncode == 0
    done = _generate(tiny_model, rescaled, "--cfg-rescale", 0.7)
    assert done.returncode == 0, done.stderr
    with Image.open(rescaled) as image:
        assert "CFG Rescale: 0.7" in image.text["parameters"]
        assert not np.array_equal(np.asarray(image), np.asarray(Image.open(plain)))
    bad = _generate(tiny_model, tmp_path / "bad.png", "--cfg-rescale", 2)
    assert bad.returncode == 2 and "CFG rescale must be between 0 and 1" in bad.stderr
