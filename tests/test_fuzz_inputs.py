"""Bad inputs through the real command line (in-process: `ldm_studio.cli.main`), kept as regressions.

Every bad input ends with exit code 2 and one line on stderr (`ldm-studio: error: …`; the progress bar's
redraws are not messages), writes nothing, and leaves the output folder and the user's files as they
were. A few inputs that look hostile but are fine (huge emphasis weights, 5,000 nested brackets) must
succeed honestly: exit 0, one real (not black) image. Argument-parser errors (a word where a number
belongs) are argparse's usage line plus one error line, also exit 2.

Most inputs fail in validation or in reading a header, before a model runs; the bundled demo models
and the tiny test checkpoints keep the rest quick.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, PngImagePlugin
from safetensors.torch import load_file, save_file

from ldm_studio.cli import main
from ldm_studio.engine.errors import InputError
from ldm_studio.engine.metadata import read_png_request
from tests.checkpoints import write_tiny_checkpoint

ENTRY = '"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}'
HEADERS = {
    "digits": '{"w": {"dtype": "F32", "shape": [' + "1" * 5000 + '], "data_offsets": [0, 4]}}',
    "deep-object": '{"a":' * 100_000 + "1" + "}" * 100_000,
    "deep-list": '{"a":' + "[" * 100_000,
    "meta-list": '{"__metadata__": [1, 2], ' + ENTRY + "}",
    "meta-string": '{"__metadata__": "hello", ' + ENTRY + "}",
    "inf-dim": '{"w": {"dtype": "F32", "shape": [1e999], "data_offsets": [0, 4]}}',
    "neg-dim": '{"w": {"dtype": "F32", "shape": [-1, -1], "data_offsets": [0, 4]}}',
    "float-dim": '{"w": {"dtype": "F32", "shape": [0.5, 2], "data_offsets": [0, 4]}}',
    "nan-dim": '{"w": {"dtype": "F32", "shape": [NaN], "data_offsets": [0, 4]}}',
    "neg-offset": '{"w": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}}',
    "bad-dtype": '{"w": {"dtype": "Q7", "shape": [1], "data_offsets": [0, 4]}}',
    "entry-list": '{"w": [1, 2]}',
    "not-json": '{"w": nope}',
    "truncated-data": '{"w": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]}}',
}


class _Code:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def _safetensors(path: Path, header: str, data: bytes = b"\0" * 4) -> None:
    raw = header.encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)


def _poisoned(source: Path, target: Path, prefix: str) -> None:
    state = load_file(source)
    for key in [k for k in state if k.startswith(prefix) and state[k].is_floating_point()][-3:]:
        state[key] = torch.full_like(state[key], float("nan"))
    save_file(state, target)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("fuzz")
    inputs = ws / "in"
    inputs.mkdir()
    (ws / "out").mkdir()
    (ws / "out" / "x.png").write_bytes(b"the user's own picture")  # must never be replaced
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(inputs / "image.png")
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(inputs / "small.png")
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:48] = 255
    Image.fromarray(mask).save(inputs / "mask.png")
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(inputs / "empty-mask.png")
    Image.fromarray(mask[:32, :32]).save(inputs / "mask-32.png")
    Image.new("RGB", (4096, 4096)).save(inputs / "huge.png", compress_level=1)
    good_png = (inputs / "image.png").read_bytes()
    (inputs / "truncated.png").write_bytes(good_png[: len(good_png) // 2])
    (inputs / "empty.png").write_bytes(b"")
    (inputs / "text.png").write_text("not an image")
    (inputs / "folder.png").mkdir()
    (inputs / "file").write_text("a file where a folder belongs")
    for name, header in HEADERS.items():
        _safetensors(inputs / f"{name}.safetensors", header)
    _safetensors(inputs / "header-list.safetensors", "[1, 2, 3]")
    (inputs / "empty.safetensors").write_bytes(b"")
    (inputs / "random.ckpt").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (inputs / "page.ckpt").write_text("<!DOCTYPE html><html>Access denied</html>")
    (inputs / "lfs.safetensors").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:00\n")
    (inputs / "image.safetensors").write_bytes(good_png)
    torch.save({"w": torch.zeros(1), "x": _Code()}, inputs / "code.ckpt")
    (inputs / "code-raw.ckpt").write_bytes(pickle.dumps({"x": _Code()}, protocol=2))
    torch.save({"a": 1}, inputs / "no-tensors.pt")
    tiny = write_tiny_checkpoint(inputs / "tiny.safetensors", "sd1")
    ints = load_file(tiny)
    key = "model.diffusion_model.input_blocks.0.0.weight"
    ints[key] = ints[key].to(torch.int32)
    save_file(ints, inputs / "int-weights.safetensors")
    _poisoned(tiny, inputs / "nan-unet.safetensors", "model.diffusion_model.")
    _poisoned(tiny, inputs / "nan-vae.safetensors", "first_stage_model.decoder.")
    _poisoned(tiny, inputs / "nan-text.safetensors", "cond_stage_model.")
    truncated = tiny.read_bytes()
    (inputs / "truncated.safetensors").write_bytes(truncated[: len(truncated) // 2])
    return ws


def _snapshot(folder: Path) -> dict[str, object]:
    """Every file's content hash (size and mtime for the big model files, which nothing opens to write)."""

    def state(path: Path) -> object:
        if not path.is_file():
            return "dir"
        info = path.stat()
        if info.st_size > 2**20:
            return (info.st_size, info.st_mtime_ns, info.st_ino)
        return hashlib.sha256(path.read_bytes()).hexdigest()

    return {str(p.relative_to(folder)): state(p) for p in sorted(folder.rglob("*"))}


def _cli(workspace: Path, args: tuple[str, ...]) -> tuple[int, list[str]]:
    argv = [a.format(i=workspace / "in", o=workspace / "out") for a in args]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code
    lines = [line for line in err.getvalue().replace("\r", "\n").splitlines() if line.strip()]
    return code, [line for line in lines if not _is_progress(line)]


def _is_progress(line: str) -> bool:
    return "/" in line and "[" in line and ("ETA" in line or "it/s" in line or "s/it" in line)


OUT = ("--out", "{o}/x.png")
GEN = ("generate", "--steps", "1", "--width", "64", "--height", "64", "--seed", "1", *OUT)
IMG2IMG = ("generate", "--steps", "1", "--seed", "1", "--init-image", "{i}/image.png", *OUT)
INPAINT = ("inpaint", "--steps", "1", "--seed", "1", "--image", "{i}/image.png", *OUT)
UPSCALE = ("upscale", "--steps", "1", "--seed", "1", *OUT)
TINY = ("--model", "{i}/tiny.safetensors")

# id → arguments; each must be refused: exit 2, one line.
REFUSED: dict[str, tuple[str, ...]] = {
    # guidance and other numbers
    "cfg-nan": (*GEN, "--cfg", "nan"),
    "cfg-inf": (*GEN, "--cfg", "inf"),
    "cfg-minus-inf": (*GEN, "--cfg=-inf"),
    "cfg-negative": (*GEN, "--cfg=-1"),
    "cfg-overflows": (*GEN, "--cfg", "1e300"),
    "cfg-max-float": (*GEN, "--cfg", "1.7e308"),
    "seed-2**64": (*GEN, "--seed", str(2**64)),
    "seed-negative": (*GEN, "--seed=-1"),
    "seed-very-negative": (*GEN, f"--seed={-(2**63) - 5}"),
    "seed-10**30": (*GEN, "--seed", str(10**30)),
    "steps-0": (*GEN, "--steps", "0"),
    "steps-negative": (*GEN, "--steps=-3"),
    "steps-1001": (*GEN, "--steps", "1001"),
    "steps-10**9": (*GEN, "--steps", str(10**9)),
    "batch-0": (*GEN, "--batch", "0"),
    "batch-negative": (*GEN, "--batch=-2"),
    "batch-65": (*GEN, "--batch", "65"),
    "batch-100000": (*GEN, "--batch", "100000"),
    # sizes
    "width-0": (*GEN, "--width", "0"),
    "height-0": (*GEN, "--height", "0"),
    "width-negative": (*GEN, "--width=-64"),
    "height-negative": (*GEN, "--height=-512"),
    "width-odd": (*GEN, "--width", "63"),
    "height-odd": (*GEN, "--height", "100"),
    "size-16384": (*GEN, "--width", "16384", "--height", "16384"),
    "width-100000": (*GEN, "--width", "100000"),
    "size-8192-batch-2": (*GEN, "--width", "8192", "--height", "8192", "--batch", "2"),
    "size-8192-wide": (*GEN, "--width", "8704", "--height", "64"),
    # prompt text
    "prompt-lone-surrogate": (*GEN, "--prompt", "\ud800"),
    "prompt-low-surrogate": (*GEN, "--prompt", "red \udfff circle"),
    "prompt-undecodable-byte": (*GEN, "--prompt", "caf\udce9"),
    "negative-lone-surrogate": (*GEN, "--negative", "\ud800"),
    # outputs
    "out-gif": (*GEN[:-2], "--out", "{o}/x.gif"),
    "out-bmp": (*GEN[:-2], "--out", "{o}/x.bmp"),
    "out-txt": (*GEN[:-2], "--out", "{o}/notes.txt"),
    "out-exe": (*GEN[:-2], "--out", "{o}/x.png.exe"),
    "out-under-a-file": (*GEN[:-2], "--out", "{i}/file/x.png"),
    "out-folder-under-a-file": (*GEN[:-2], "--out", "{i}/file/sub/deeper"),
    # model files
    "model-missing": (*GEN, "--model", "{i}/nothing.safetensors"),
    "model-folder": (*GEN, "--model", "{i}/folder.png"),
    "model-text": (*GEN, "--model", "{i}/text.png"),
    "model-empty": (*GEN, "--model", "{i}/empty.safetensors"),
    "model-random-bytes": (*GEN, "--model", "{i}/random.ckpt"),
    "model-html": (*GEN, "--model", "{i}/page.ckpt"),
    "model-git-lfs-pointer": (*GEN, "--model", "{i}/lfs.safetensors"),
    "model-png": (*GEN, "--model", "{i}/image.safetensors"),
    "model-header-list": (*GEN, "--model", "{i}/header-list.safetensors"),
    "model-holds-code": (*GEN, "--model", "{i}/code.ckpt"),
    "model-holds-code-raw-pickle": (*GEN, "--model", "{i}/code-raw.ckpt"),
    "model-no-tensors": (*GEN, "--model", "{i}/no-tensors.pt"),
    "model-truncated": (*GEN, "--model", "{i}/truncated.safetensors"),
    "model-int-weights": (*GEN, "--model", "{i}/int-weights.safetensors"),
    "model-nan-unet": (*GEN, "--model", "{i}/nan-unet.safetensors"),
    "model-nan-vae": (*GEN, "--model", "{i}/nan-vae.safetensors"),
    "model-nan-text-encoder": (*GEN, "--model", "{i}/nan-text.safetensors"),
    **{f"model-header-{name}": (*GEN, "--model", f"{{i}}/{name}.safetensors") for name in HEADERS},
    **{f"vae-header-{name}": (*GEN, "--vae", f"{{i}}/{name}.safetensors") for name in HEADERS},
    "vae-header-not-a-dict": (*GEN, "--vae", "{i}/header-list.safetensors"),
    "vae-missing": (*GEN, "--vae", "{i}/nothing.safetensors"),
    "vae-holds-code": (*GEN, "--vae", "{i}/code.ckpt"),
    "vae-is-a-png": (*GEN, "--vae", "{i}/image.png"),
    **{f"info-header-{name}": ("info", f"{{i}}/{name}.safetensors") for name in HEADERS},
    "info-missing": ("info", "{i}/nothing.ckpt"),
    "info-holds-code": ("info", "{i}/code.ckpt"),
    "info-random-bytes": ("info", "{i}/random.ckpt"),
    "info-folder": ("info", "{i}/folder.png"),
    # input images
    "init-missing": (*IMG2IMG[:-4], "--init-image", "{i}/nothing.png", *OUT),
    "init-truncated": (*IMG2IMG[:-4], "--init-image", "{i}/truncated.png", *OUT),
    "init-empty": (*IMG2IMG[:-4], "--init-image", "{i}/empty.png", *OUT),
    "init-text": (*IMG2IMG[:-4], "--init-image", "{i}/text.png", *OUT),
    "init-folder": (*IMG2IMG[:-4], "--init-image", "{i}/folder.png", *OUT),
    "strength-nan": (*IMG2IMG, "--strength", "nan"),
    "strength-negative": (*IMG2IMG, "--strength=-0.1"),
    "strength-above-1": (*IMG2IMG, "--strength", "1.5"),
    "strength-inf": (*IMG2IMG, "--strength", "inf"),
    # inpainting
    "mask-missing-file": (*INPAINT, "--mask", "{i}/nothing.png"),
    "mask-empty": (*INPAINT, "--mask", "{i}/empty-mask.png"),
    "mask-wrong-size": (*INPAINT, "--mask", "{i}/mask-32.png"),
    "mask-text": (*INPAINT, "--mask", "{i}/text.png"),
    "mask-blur-100000": (*INPAINT, "--mask", "{i}/mask.png", "--mask-blur", "100000"),
    "mask-blur-negative": (*INPAINT, "--mask", "{i}/mask.png", "--mask-blur=-1"),
    "padding-negative": (*INPAINT, "--mask", "{i}/mask.png", "--only-masked", "--padding=-8"),
    "inpaint-strength-nan": (*INPAINT, "--mask", "{i}/mask.png", "--strength", "nan"),
    # upscaling
    "upscale-noise-negative": (*UPSCALE, "--image", "{i}/small.png", "--noise-level=-1"),
    "upscale-noise-351": (*UPSCALE, "--image", "{i}/small.png", "--noise-level", "351"),
    "upscale-output-too-large": (*UPSCALE, "--image", "{i}/huge.png"),
    "upscale-image-missing": (*UPSCALE, "--image", "{i}/nothing.png"),
    "upscale-cfg-nan": (*UPSCALE, "--image", "{i}/small.png", "--cfg", "nan"),
}

# argparse refuses these itself: usage line + error line, exit 2.
PARSER_REFUSED: dict[str, tuple[str, ...]] = {
    "steps-word": (*GEN, "--steps", "many"),
    "seed-float": (*GEN, "--seed", "1.5"),
    "cfg-word": (*GEN, "--cfg", "lots"),
    "sampler-unknown": (*GEN, "--sampler", "warp"),
    "precision-unknown": (*GEN, "--precision", "fp8"),
    "no-out": GEN[:-2],
}

# Hostile-looking but fine: must succeed with one real image.
SUCCEEDS: dict[str, tuple[str, ...]] = {
    "emphasis-1e40": (*GEN, "--prompt", "(red:1" + "0" * 40 + ")"),
    "emphasis-nested-5000": (*GEN, "--prompt", "(" * 5000 + "red"),
    "emphasis-square-nested-5000": (*GEN, "--prompt", "[" * 5000 + "red" + "]" * 5000),
    "prompt-long-no-colon": (*GEN, "--prompt", "a " * 3000),
    "out-jpeg": (*GEN[:-2], "--out", "{o}/new.jpg"),
    "out-webp": (*GEN[:-2], "--out", "{o}/new.webp"),
    "out-taken-name": GEN,  # x.png is the user's: a numbered name is chosen
}


@pytest.mark.parametrize("args", REFUSED.values(), ids=REFUSED.keys())
def test_a_bad_input_is_one_line_exit_2_and_writes_nothing(workspace, args):
    before = _snapshot(workspace)
    code, lines = _cli(workspace, args)
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("ldm-studio: error: "), lines
    assert _snapshot(workspace) == before


@pytest.mark.parametrize("args", PARSER_REFUSED.values(), ids=PARSER_REFUSED.keys())
def test_an_argument_the_parser_refuses_is_exit_2_and_writes_nothing(workspace, args):
    before = _snapshot(workspace)
    code, lines = _cli(workspace, args)
    assert code == 2
    assert lines[0].startswith("usage: ") and "error: " in lines[-1]
    assert _snapshot(workspace) == before


@pytest.mark.parametrize("args", SUCCEEDS.values(), ids=SUCCEEDS.keys())
def test_a_hostile_looking_input_that_is_fine_succeeds_honestly(workspace, args):
    before = _snapshot(workspace)
    code, lines = _cli(workspace, args)
    assert code == 0, lines
    new = sorted(set(_snapshot(workspace)) - set(before))
    assert len(new) == 1, new
    written = workspace / new[0]
    try:
        assert {k: v for k, v in _snapshot(workspace).items() if k in before} == before
        with Image.open(written) as image:
            assert np.asarray(image.convert("RGB")).std() > 0  # an image, not a black square
    finally:
        written.unlink()


def _png(path: Path, **chunks: str) -> Path:
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)
    Image.new("RGB", (4, 4)).save(path, pnginfo=info)
    return path


PARAMETER_CHUNKS = {
    "ours-deep-list": {"ldm_studio": "[" * 100_000},
    "ours-deep-object": {"ldm_studio": '{"a":' * 100_000},
    "comfyui-deep-list": {"prompt": "[" * 100_000},
    "comfyui-deep-object": {"prompt": '{"a":' * 100_000},
}


@pytest.mark.parametrize("chunks", PARAMETER_CHUNKS.values(), ids=PARAMETER_CHUNKS.keys())
def test_opening_a_png_with_a_hostile_parameters_chunk_is_a_message(tmp_path, chunks):
    with pytest.raises(InputError, match="nested too deeply") as caught:
        read_png_request(_png(tmp_path / "p.png", **chunks))
    assert "\n" not in str(caught.value)


FINE_CHUNKS = {
    "a1111-1mb-no-colon": {"parameters": "a " * 500_000},
    "a1111-quotes-unclosed": {"parameters": 'x\nSteps: "' + "a," * 200_000},
    "ours-5000-digits": {"ldm_studio": '{"seed": ' + "9" * 5000 + "}"},
    "ours-nan": {"ldm_studio": '{"cfg_scale": NaN}'},
    "comfyui-not-json": {"prompt": "{nope"},
}


@pytest.mark.parametrize("chunks", FINE_CHUNKS.values(), ids=FINE_CHUNKS.keys())
def test_other_odd_parameter_chunks_open_quickly_with_defaults(tmp_path, chunks):
    read_png_request(_png(tmp_path / "p.png", **chunks))  # no exception; the 1 MB line is linear
