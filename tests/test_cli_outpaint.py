"""`ldm-studio outpaint` as a user runs it: the canvas grows, the old pixels stay, bad sides refused."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ldm_studio.cli import main
from ldm_studio.engine.metadata import read_png_parameters
from tests.checkpoints import write_tiny_checkpoint


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ldm_studio", *map(str, args)], capture_output=True, text=True, timeout=300
    )


def _photo(path, width, height):
    rng = np.random.default_rng(4)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
    return np.asarray(Image.open(path))


def _outpaint(image, out, *extra) -> subprocess.CompletedProcess:
    return _cli("outpaint", "--image", image, "--prompt", "a red circle", "--steps", 2, "--seed", 3,
                "--out", out, *extra)  # fmt: skip


def test_extending_one_side_keeps_the_old_pixels_and_says_so_in_the_metadata(tmp_path):
    old = _photo(tmp_path / "in.png", 64, 64)
    done = _outpaint(tmp_path / "in.png", tmp_path / "out.png", "--right", 64, "--soft")
    assert done.returncode == 0, done.stderr
    with Image.open(tmp_path / "out.png") as image:
        out, text = np.asarray(image.convert("RGB")), image.text["parameters"]
    assert out.shape == (64, 128, 3)
    assert np.array_equal(out[:, :32], old[:, :32])  # outside the 32-px overlap: the input's bytes
    assert not np.array_equal(out[:, 32:64], old[:, 32:])  # the overlap was repainted (softly)
    assert 'Outpaint: "left 0, right 64, top 0, bottom 0, fill edge, overlap 32"' in text
    assert "Soft inpainting enabled: True" in text and "Size: 128x64" in text
    again = read_png_parameters(tmp_path / "out.png")
    assert again.outpaint == "left 0, right 64, top 0, bottom 0, fill edge, overlap 32"
    assert again.soft_inpainting and again.mode == "inpaint"


def test_a_canvas_larger_than_the_model_is_worked_on_a_crop_at_the_border(tmp_path):
    # The demo model works at 128²: a 160x192 canvas turns "only masked area" on, and the crop around
    # the new strip at the bottom edge is pasted back with everything above the overlap untouched.
    old = _photo(tmp_path / "in.png", 160, 128)
    done = _outpaint(tmp_path / "in.png", tmp_path / "out.png", "--bottom", 64, "--fill", "blur",
                     "--overlap", 16)  # fmt: skip
    assert done.returncode == 0, done.stderr
    with Image.open(tmp_path / "out.png") as image:
        out, text = np.asarray(image.convert("RGB")), image.text["parameters"]
    assert out.shape == (192, 160, 3)
    assert np.array_equal(out[:112], old[:112])
    assert "Inpaint area: Only masked" in text and "fill blur, overlap 16" in text
    assert out[128:].std() > 0  # the new area was painted, not left empty


def test_a_nine_channel_inpainting_model_outpaints(tmp_path):
    model = write_tiny_checkpoint(tmp_path / "tiny-inpaint.safetensors", "sd1-inpaint")
    old = _photo(tmp_path / "in.png", 64, 64)
    done = _outpaint(tmp_path / "in.png", tmp_path / "out.png", "--model", model, "--left", 32,
                     "--top", 8, "--overlap", 8)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = np.asarray(Image.open(tmp_path / "out.png").convert("RGB"))
    assert out.shape == (72, 96, 3)
    assert np.array_equal(out[16:, 40:], old[8:, 8:])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--left", "-8"), "outpaint left must be a whole number >= 0, got -8"),
        ((), "outpaint needs at least one side to extend"),
        (("--right", "8200"), "larger than the 8192 px limit per side"),
        (("--top", "64", "--fill", "paint"), "outpaint fill must be one of edge, blur, noise"),
        (("--top", "64", "--overlap", "-1"), "outpaint overlap must be a whole number >= 0"),
    ],
)
def test_bad_sides_print_one_line_write_nothing_and_exit_2(tmp_path, capsys, args, message):
    _photo(tmp_path / "in.png", 64, 64)
    out = tmp_path / "out.png"
    code = main(["outpaint", "--image", str(tmp_path / "in.png"), "--out", str(out), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and not out.exists()
