"""`--controlnet FILE:IMAGE:WEIGHT` on the command line: the PNG says which ControlNet made it (as the
A1111 extension writes it) and reads back into the request; bad ones are one line, exit 2, nothing written."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ldm_studio.controlnet_args import parse_controlnet_option
from ldm_studio.engine.adapters.controlnet_folder import resolve_controlnet, scan_controlnets
from ldm_studio.engine.file_hashes import sha256_of_file
from ldm_studio.engine.metadata import read_png_request
from tests.checkpoints import write_tiny_checkpoint
from tests.controlnets import write_tiny_controlnet


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    model = write_tiny_checkpoint(folder / "tiny-sd1.safetensors", "sd1")
    (folder / "controlnet").mkdir()
    write_tiny_controlnet(folder / "controlnet" / "control_v11p_sd15_canny.safetensors", "sd1")
    write_tiny_controlnet(folder / "controlnet" / "control_v11p_sd15_scribble.pth", "sd1", seed=3)
    write_tiny_controlnet(folder / "controlnet" / "controlnet_sd21_depth.safetensors", "sd2")
    good = (folder / "controlnet" / "control_v11p_sd15_canny.safetensors").read_bytes()
    (folder / "controlnet" / "cut_canny.safetensors").write_bytes(good[:-100])
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(folder / "edges.png")
    return model


def _generate(model, out, *extra) -> subprocess.CompletedProcess:
    args = ["generate", "--model", model, "--prompt", "a cube", "--steps", 2, "--seed", 7,
            "--width", 64, "--height", 64, "--out", out, *extra]  # fmt: skip
    return subprocess.run([sys.executable, "-m", "ldm_studio", *map(str, args)], capture_output=True,
                          text=True, timeout=300)  # fmt: skip


def test_parse_controlnet_option():
    assert parse_controlnet_option("c.safetensors:edges.png") == ("c.safetensors", "edges.png", 1.0)
    assert parse_controlnet_option("C:/m/c.pth:D:/img/e.png:0.5") == ("C:/m/c.pth", "D:/img/e.png", 0.5)
    assert parse_controlnet_option("canny:e.png:0.7") == ("canny", "e.png", 0.7)


def test_the_folder_lists_family_and_kind(models):
    entries = {e.name: e for e in scan_controlnets(models.parent / "controlnet")}
    assert (entries["control_v11p_sd15_canny"].family, entries["control_v11p_sd15_canny"].kind) == (
        "sd1",
        "canny",
    )
    assert entries["control_v11p_sd15_scribble"].family is None  # a pickle: not read without loading
    assert entries["controlnet_sd21_depth"].incompatibility("sd1") == (
        "this ControlNet is for SD 2.x, the chosen model is SD 1.x"
    )
    assert "truncated" in entries["cut_canny"].problem
    found = resolve_controlnet("control_v11p_sd15_canny", models.parent / "controlnet")
    assert found.endswith("control_v11p_sd15_canny.safetensors")


def test_controlnets_reach_the_png_and_read_back(models, tmp_path):
    out = tmp_path / "out.png"
    edges = models.parent / "edges.png"
    done = _generate(
        models, out,
        "--controlnet", f"control_v11p_sd15_canny:{edges}:0.8", "--controlnet-module", "canny",
        "--controlnet", f"{models.parent / 'controlnet' / 'control_v11p_sd15_scribble.pth'}:{edges}",
        "--controlnet-module", "none", "--controlnet-mode", "balanced", "--controlnet-mode", "control",
        "--controlnet-guidance", "0:1", "--controlnet-guidance", "0.25:0.75",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "warning: ControlNet 0: control image 64x48 resized to 64x64" in done.stderr
    with Image.open(out) as image:
        text = image.text["parameters"]
    digest = sha256_of_file(models.parent / "controlnet" / "control_v11p_sd15_canny.safetensors")[:8]
    assert (
        f'ControlNet 0: "Module: canny, Model: control_v11p_sd15_canny [{digest}], Weight: 0.8, '
        'Resize Mode: Just Resize, Guidance Start: 0, Guidance End: 1, Control Mode: Balanced"'
    ) in text
    assert "Guidance Start: 0.25, Guidance End: 0.75, Control Mode: ControlNet is more important" in text
    # Read back from A1111 text alone (as from another tool) and from our own chunk.
    units = read_png_request(out).controlnets
    assert [(u.file, u.module, u.weight, u.mode) for u in units] == [
        ("control_v11p_sd15_canny", "canny", 0.8, "balanced"),
        ("control_v11p_sd15_scribble", "none", 1.0, "control"),
    ]
    from ldm_studio.engine.metadata.a1111 import request_from_infotext

    again = request_from_infotext(text).controlnets
    assert [(u.file, u.start, u.end) for u in again] == [
        ("control_v11p_sd15_canny", 0.0, 1.0),
        ("control_v11p_sd15_scribble", 0.25, 0.75),
    ]


@pytest.mark.parametrize(("name", "extra", "words"), [
    ("controlnet_sd21_depth", (), ["controlnet_sd21_depth", "SD 2.x", "SD 1.x"]),
    ("cut_canny", (), ["cut_canny.safetensors", "truncated"]),
    ("control_v11p_sd15_canny", ("--controlnet-module", "depth"), ["depth", "dpt_hybrid-midas-501f0c75.pt"]),
    ("nobody", (), ["ControlNet file not found: nobody"]),
])  # fmt: skip
def test_bad_controlnet_is_one_line_exit_2_nothing_written(models, tmp_path, name, extra, words):
    out = tmp_path / "out.png"
    done = _generate(models, out, "--controlnet", f"{name}:{models.parent / 'edges.png'}", *extra)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and all(word in lines[0] for word in words), done.stderr
    assert list(tmp_path.iterdir()) == []
