"""Saving and reading files honestly: the name appears only when the file is whole, stale temporaries of
ours are cleared, JPEG/WebP are real JPEG/WebP with A1111's EXIF comment, and deep greyscale files keep
their range."""

import errno
import os
import time

import numpy as np
import pytest
from PIL import Image

from ldm_studio.engine import outputs
from ldm_studio.engine.errors import LdmError
from ldm_studio.engine.image_files import load_image, load_mask
from ldm_studio.engine.outputs import check_destination, save_png_atomic
from ldm_studio.engine.requests import GenerationRequest

IMAGE = Image.new("RGB", (16, 16), (220, 30, 30))
REQUEST = GenerationRequest(prompt="a red square", seed=1234)
INFOTEXT = "a red square, ünïcode\nSteps: 20, Seed: 1234"


def test_the_name_does_not_exist_until_the_file_is_complete(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    real_write = outputs._write

    def watching(file, *args):
        assert not target.exists()  # a kill -9 now leaves nothing under the name
        real_write(file, *args)

    monkeypatch.setattr(outputs, "_write", watching)
    assert save_png_atomic(IMAGE, INFOTEXT, REQUEST, target) == target
    assert Image.open(target).text["parameters"] == INFOTEXT
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_without_hard_links_it_still_saves_and_never_overwrites(tmp_path, monkeypatch):
    def no_links(*args):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    (tmp_path / "out.png").write_bytes(b"mine")
    assert save_png_atomic(IMAGE, INFOTEXT, REQUEST, tmp_path / "out.png").name == "out-1.png"
    assert (tmp_path / "out.png").read_bytes() == b"mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out-1.png", "out.png"]


def test_stale_temporaries_of_ours_are_cleared_and_nothing_else(tmp_path):
    stale, fresh, users = (
        tmp_path / ".ldm_studio-abc.tmp",
        tmp_path / ".ldm_studio-new.tmp",
        tmp_path / ".x.tmp",
    )
    for path in (stale, fresh, users):
        path.write_bytes(b"half")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    os.utime(users, (old, old))
    save_png_atomic(IMAGE, INFOTEXT, REQUEST, tmp_path)
    assert not stale.exists() and fresh.exists() and users.exists()


@pytest.mark.parametrize(("suffix", "fmt"), [(".jpg", "JPEG"), (".jpeg", "JPEG"), (".webp", "WEBP")])
def test_jpeg_and_webp_are_real_and_carry_the_parameters_as_a1111_does(tmp_path, suffix, fmt):
    saved = save_png_atomic(IMAGE, INFOTEXT, REQUEST, tmp_path / f"out{suffix}")
    with Image.open(saved) as image:
        assert image.format == fmt
        comment = image.getexif().get_ifd(0x8769)[0x9286]
    assert comment == b"UNICODE\0" + INFOTEXT.encode("utf-16-be")


@pytest.mark.parametrize("name", ["out.gif", "out.bmp", "out.txt", "out.PNG.exe"])
def test_an_extension_we_cannot_write_is_refused_before_anything_runs(tmp_path, name):
    with pytest.raises(LdmError, match=r"images are saved as \.png, \.jpg, \.jpeg, \.webp"):
        check_destination(tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_check_destination_accepts_a_new_folder_and_refuses_a_file_in_the_way(tmp_path):
    check_destination(tmp_path / "new" / "deeper")
    check_destination(tmp_path / "new" / "x.png")
    assert list(tmp_path.iterdir()) == []  # nothing created by checking
    (tmp_path / "blocker").write_text("a file")
    with pytest.raises(LdmError, match="is a file, not a folder"):
        check_destination(tmp_path / "blocker" / "x.png")


def test_a_16_bit_greyscale_png_keeps_its_range(tmp_path):
    ramp = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)  # 0 … 65520
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    image = load_image(tmp_path / "deep.png")[..., 0].astype(int)
    expected = np.rint(ramp / 65535 * 255).astype(int)
    assert np.abs(image - expected).max() <= 1
    assert image.min() == 0 and image.max() >= 254 and (image == 255).mean() < 0.01  # not clipped to white


def test_a_float_tiff_is_scaled_by_its_range(tmp_path):
    ramp = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    Image.fromarray(ramp, mode="F").save(tmp_path / "f.tif")
    image = load_image(tmp_path / "f.tif")[..., 0].astype(int)
    assert np.abs(image - np.rint(ramp * 255)).max() <= 1  # not black
    assert load_mask(tmp_path / "f.tif").max() == 255
    wide = (ramp * 1000 - 500).astype(np.float32)  # outside 0-1: its own min-max
    Image.fromarray(wide, mode="F").save(tmp_path / "w.tif")
    image = load_image(tmp_path / "w.tif")[..., 0]
    assert (image.min(), image.max()) == (0, 255)


_SAVER = """
import sys
import numpy as np
from PIL import Image
from ldm_studio.engine.outputs import save_png_atomic
from ldm_studio.engine.requests import GenerationRequest

image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8))
print("ready", flush=True)
while True:
    save_png_atomic(image, "x\\nSteps: 1", GenerationRequest(), sys.argv[1])
"""


@pytest.mark.skipif(not hasattr(os, "kill") or os.name == "nt", reason="SIGKILL semantics")
def test_kill_9_while_saving_never_leaves_an_empty_or_partial_image(tmp_path):
    import signal
    import subprocess
    import sys

    folder = tmp_path / "out"
    for attempt in range(6):
        saver = subprocess.Popen(
            [sys.executable, "-c", _SAVER, str(folder / "out.png")], stdout=subprocess.PIPE, text=True
        )
        assert saver.stdout.readline().strip() == "ready"
        time.sleep(0.15 + 0.07 * attempt)  # land at different moments of a save
        saver.send_signal(signal.SIGKILL)
        saver.wait()
    images = sorted(folder.glob("*.png"))
    assert images  # the saver did save
    for path in images:
        with Image.open(path) as image:
            image.load()  # complete, or this raises
    # Whatever was cut short is only one of our hidden temporaries, cleared on a later save.
    assert all(p.name.startswith(".ldm_studio-") for p in folder.iterdir() if p.suffix != ".png")


@pytest.mark.parametrize("suffix", [".jpg", ".webp"])
def test_jpeg_and_webp_parameters_read_back(tmp_path, suffix):
    from ldm_studio.engine.metadata import read_png_request

    text = "a lighthouse, ünïcode\nSteps: 12, Sampler: Heun, CFG scale: 5, Seed: 77, Size: 16x16"
    saved = save_png_atomic(IMAGE, text, REQUEST, tmp_path / f"out{suffix}")
    request = read_png_request(saved)
    assert (request.prompt, request.steps, request.sampler, request.seed) == (
        "a lighthouse, ünïcode",
        12,
        "heun",
        77,
    )
