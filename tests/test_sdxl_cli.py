"""SDXL on the command line: `info` names the family, `generate` with --refiner writes A1111's refiner
fields (read back by the infotext parser), a refiner as the main model runs with a note, bad sizes fail."""

import subprocess
import sys

import pytest
from PIL import Image

from ldm_studio.engine.metadata.a1111 import request_from_infotext
from tests.sdxl_checkpoints import write_tiny_sdxl_checkpoint


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return (
        write_tiny_sdxl_checkpoint(folder / "base.safetensors", "sdxl"),
        write_tiny_sdxl_checkpoint(folder / "refiner.safetensors", "sdxl-refiner"),
    )


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ldm_studio", *map(str, args)], capture_output=True, text=True, timeout=300
    )


def _generate(model, out, *extra) -> subprocess.CompletedProcess:
    return _cli("generate", "--model", model, "--prompt", "a red circle", "--steps", 5, "--seed", 7,
                "--width", 64, "--height", 64, "--out", out, *extra)  # fmt: skip


def test_info_names_sdxl(files):
    done = _cli("info", files[0])
    assert done.returncode == 0, done.stderr
    assert "family:       sdxl (SDXL base)" in done.stdout and "second text:" in done.stdout


def test_generate_with_refiner_writes_its_name_hash_and_switch(files, tmp_path):
    base, refiner = files
    out = tmp_path / "out.png"
    done = _generate(base, out, "--refiner", refiner, "--refiner-switch", 0.6)
    assert done.returncode == 0, done.stderr
    with Image.open(out) as image:
        text = image.text["parameters"]
        assert image.size == (64, 64)
    assert "Refiner: refiner [" in text and "Refiner switch at: 0.6" in text
    parsed = request_from_infotext(text)
    assert (parsed.refiner, parsed.refiner_switch) == ("refiner", 0.6)


def test_refiner_as_the_main_model_runs_with_a_note(files, tmp_path):
    done = _generate(files[1], tmp_path / "r.png")
    assert done.returncode == 0, done.stderr
    assert "meant to finish a base model's image" in done.stderr and (tmp_path / "r.png").is_file()


def test_a_size_off_the_32_pixel_grid_is_one_line_and_writes_nothing(files, tmp_path):
    done = _cli("generate", "--model", files[0], "--width", 80, "--height", 64, "--out", tmp_path / "x.png")
    assert done.returncode != 0 and "multiple of 32" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.png").exists()
