"""`--lora FILE:M`, `--lora-dir`, `--embeddings` and `<lora:NAME:M>` on the command line: the PNG says which
LoRAs made it; a bad LoRA is one line, exit 2, nothing written; modules not found are a warning line."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from ldm_studio.engine.file_hashes import sha256_after_header
from ldm_studio.headless import parse_lora_option
from tests.adapter_files import write_lora
from tests.checkpoints import write_tiny_checkpoint

SHAPES = {"lora_unet_conv_in": (32, 4, 3, 3), "lora_unet_down_blocks_0_attentions_0_proj_in": (32, 32, 1, 1)}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    model = write_tiny_checkpoint(folder / "tiny-sd1.safetensors", "sd1")
    (folder / "loras").mkdir()
    write_lora(folder / "loras" / "style.safetensors", SHAPES)
    write_lora(folder / "loras" / "partial.safetensors", SHAPES | {"lora_unet_no_such_layer": (8, 8)})
    torch.save({"x": torch.ones(2)}, folder / "loras" / "odd.pt")
    torch.save({"lora_unet_conv_in.alpha": Path}, folder / "loras" / "pickled.pt")  # needs code to load
    good = (folder / "loras" / "style.safetensors").read_bytes()
    (folder / "loras" / "cut.safetensors").write_bytes(good[:-40])
    return model


def _generate(model, out, prompt, *extra) -> subprocess.CompletedProcess:
    args = ["generate", "--model", model, "--prompt", prompt, "--steps", 1, "--seed", 7,
            "--width", 64, "--height", 64, "--out", out, *extra]  # fmt: skip
    return subprocess.run([sys.executable, "-m", "ldm_studio", *map(str, args)], capture_output=True,
                          text=True, timeout=300)  # fmt: skip


def test_parse_lora_option():
    assert parse_lora_option("a.safetensors") == ("a.safetensors", 1.0, 1.0)
    assert parse_lora_option("a.safetensors:0.5") == ("a.safetensors", 0.5, 0.5)
    assert parse_lora_option("C:/x/a.safetensors:0.5:1") == ("C:/x/a.safetensors", 0.5, 1.0)
    assert parse_lora_option("C:/x/a.safetensors") == ("C:/x/a.safetensors", 1.0, 1.0)


def test_lora_tag_and_option_reach_the_png(models, tmp_path):
    out = tmp_path / "out.png"
    extra = models.parent / "loras" / "partial.safetensors"
    done = _generate(models, out, "a cube <lora:style:0.7>", "--lora", f"{extra}:0.5")
    assert done.returncode == 0, done.stderr
    assert "warning: LoRA 'partial': 1 of 3 modules not found" in done.stderr
    with Image.open(out) as image:
        text = image.text["parameters"]
    assert "a cube <lora:style:0.7>" in text
    digest = sha256_after_header(models.parent / "loras" / "style.safetensors")[:12]
    assert f"style: {digest}" in text and "partial: " in text


@pytest.mark.parametrize(("prompt", "extra", "words"), [
    ("<lora:nobody:1>", (), ["'nobody'", "loras"]),
    ("<lora:odd:1>", (), ["odd.pt", "no LoRA weights"]),
    ("<lora:pickled:1>", (), ["pickled.pt", "needs code to unpickle"]),
    ("<lora:cut:1>", (), ["cut.safetensors", "damaged or truncated"]),
    ("x", ("--lora", "missing.safetensors:0.5"), ["missing.safetensors"]),
])  # fmt: skip
def test_bad_lora_is_one_line_exit_2_nothing_written(models, tmp_path, prompt, extra, words):
    out = tmp_path / "out.png"
    done = _generate(models, out, prompt, *extra)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and all(word in lines[0] for word in words), done.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []
