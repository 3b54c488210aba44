"""`ldm-studio grid` on the bundled demo model (in-process, tiny sizes, 2 steps): the labelled grid, every
cell saved with its own parameters, one load per model, bad axis values refused before anything runs."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ldm_studio.engine.checkpoints.loading as loading
from ldm_studio.cli import EXIT_USER_ERROR, main
from ldm_studio.engine.checkpoints.demo_models import demo_model_path
from ldm_studio.engine.grids.compose import layout_for
from ldm_studio.engine.grids.plan import build_plan
from ldm_studio.engine.metadata import read_png_request
from ldm_studio.engine.requests import GenerationRequest

ARGS = ["--prompt", "a red circle", "--steps", "2", "--seed", "3", "--width", "32", "--height", "32"]


@pytest.fixture
def counted_loads(monkeypatch):
    loads = []
    real = loading.load_model

    def load(path, **options):
        loads.append(str(path))
        return real(path, **options)

    monkeypatch.setattr(loading, "load_model", load)
    return loads


def test_grid_writes_the_labelled_grid_and_every_cell_with_its_own_parameters(
    tmp_path, capsys, counted_loads
):
    second = tmp_path / "models" / "demo-copy.safetensors"
    second.parent.mkdir()
    second.symlink_to(demo_model_path("txt2img"))
    out = tmp_path / "grid.png"
    axes = ["--x", "cfg=3,5", "--y", "prompt_sr=red,blue", "--z", f"model=demo-txt2img,{second}"]
    assert main(["grid", *ARGS, *axes, "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed[-1] == str(out) and len(printed) == 9
    assert counted_loads == [str(demo_model_path("txt2img")), str(second)]  # one load per model

    cells = [tmp_path / "grid-cells" / name for name in printed[:-1]]
    assert all(path.parent == tmp_path / "grid-cells" and path.is_file() for path in cells)
    base = GenerationRequest(prompt="a red circle", steps=2, seed=3, width=32, height=32)
    plan = build_plan(base, "cfg=3,5", "prompt_sr=red,blue", f"model=demo-txt2img,{second}",
                      models_folder=demo_model_path("txt2img").parent)  # fmt: skip
    layout = layout_for(plan)
    grid = Image.open(out)
    assert (
        grid.size
        == layout.size
        == (2 * (layout.left + 2 * 32) + layout.gap, layout.header + layout.top + 2 * 32)
    )
    assert layout.left > 0 and layout.top > 0 and layout.header > 0
    pixels = np.asarray(grid.convert("RGB"))
    # cells ran model by model (the Z axis), X fastest: each file is its own cell, in its place in the grid
    for path, cell in zip(cells, plan.run_order(), strict=True):
        stored = read_png_request(path)
        assert (stored.cfg_scale, stored.prompt, stored.seed) == (
            cell.request.cfg_scale,
            cell.request.prompt,
            3,
        )
        with Image.open(path) as image:
            assert image.size == (32, 32)
            assert f"Model: {'demo-txt2img' if cell.z == 0 else 'demo-copy'}" in image.text["parameters"]
            left, top, right, bottom = layout.box(cell.x, cell.y, cell.z)
            assert np.array_equal(pixels[top:bottom, left:right], np.asarray(image.convert("RGB")))
    # the two prompts differ, so do their images; the grid keeps the base parameters and the axes
    assert not np.array_equal(np.asarray(Image.open(cells[0])), np.asarray(Image.open(cells[2])))
    assert read_png_request(out).prompt == "a red circle"
    assert (
        'X/Y/Z plot: "X: cfg=3,5; Y: prompt_sr=red,blue; Z: model=demo-txt2img.safetensors,demo-copy'
        in (grid.text["parameters"])
    )


@pytest.mark.parametrize(
    ("axes", "message"),
    [
        (["--x", "cfg=3,abc"], "X axis cfg: 'abc' is not a number"),
        (["--x", "cfg=3", "--y", "prompt_sr=dog,cat"], "Y axis prompt_sr: 'dog' is not in the prompt"),
        (["--x", "size=32x32,30x32"], "X axis size: '30x32' is not a multiple of 16"),
        (["--z", "sampler=euler,nope"], "Z axis sampler: 'nope' is not a sampler"),
        (["--x", "model=missing"], "X axis model: 'missing' is not a checkpoint file in"),
        (["--x", "steps=2,0"], "X axis steps: '0' is not a step count"),
        (["--x", "denoise=0.5"], "X axis denoise: only for img2img and inpaint"),
        ([], "a grid needs at least one axis"),
    ],
)
def test_a_bad_axis_value_is_refused_before_anything_runs(tmp_path, capsys, counted_loads, axes, message):
    out = tmp_path / "out" / "grid.png"
    assert main(["grid", *ARGS, *axes, "--out", str(out)]) == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"ldm-studio: error: {message}"), err
    assert "\n" not in err
    assert counted_loads == []  # no model was loaded
    assert not (tmp_path / "out").exists()  # nothing written


def test_lora_weight_axis_sets_the_prompt_tag_per_cell_and_out_may_be_a_folder(tmp_path, capsys):
    from tests.adapter_files import write_lora
    from tests.checkpoints import write_tiny_checkpoint

    (tmp_path / "models" / "loras").mkdir(parents=True)
    model = write_tiny_checkpoint(tmp_path / "models" / "tiny-sd1.safetensors", "sd1")
    shapes = {
        "lora_unet_conv_in": (32, 4, 3, 3),
        "lora_unet_down_blocks_0_attentions_0_proj_in": (32, 32, 1, 1),
    }
    write_lora(tmp_path / "models" / "loras" / "style.safetensors", shapes)
    out = tmp_path / "out"
    args = ["grid", "--model", str(model), "--prompt", "a cube <lora:style:0.7>", "--steps", "1",
            "--seed", "7", "--width", "64", "--height", "64", "--x", "lora_weight=style:0,1.5",
            "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    zero, strong, grid = (Path(p) for p in capsys.readouterr().out.split())
    assert zero.parent == strong.parent == grid.parent == out  # a folder: cells and grid in it, numbered
    texts = [Image.open(p).text["parameters"] for p in (zero, strong)]
    assert "a cube <lora:style:0>" in texts[0] and "a cube <lora:style:1.5>" in texts[1]
    assert "Lora hashes" in texts[1]
    assert not np.array_equal(np.asarray(Image.open(zero)), np.asarray(Image.open(strong)))
    width, height = Image.open(grid).size
    assert width == 2 * 64 and height > 64  # an X axis alone: labels on top only
