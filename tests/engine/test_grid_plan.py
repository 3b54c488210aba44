"""X/Y/Z plans: axes typed as text become checked values and cells; bad values are refused, one line each."""

import numpy as np
import pytest

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.grids.axes import ModelFacts
from ldm_studio.engine.grids.plan import MAX_CELLS, build_plan, expand_range, split_axis
from ldm_studio.engine.requests import GenerationRequest

BASE = GenerationRequest(prompt="a red cat, <lora:style:0.8>", negative_prompt="blurry", width=64, height=64)


def test_cells_run_x_fastest_and_carry_each_axis_value():
    plan = build_plan(BASE, "cfg=3,5,7", "prompt_sr=red,blue,green", "steps=2,4")
    assert plan.shape == (3, 3, 2)
    assert len(plan.cells) == 18
    cell = plan.cell(2, 1, 1)
    assert (cell.x, cell.y, cell.z) == (2, 1, 1)
    assert cell.request.cfg_scale == 7 and cell.request.steps == 4
    assert cell.request.prompt == "a blue cat, <lora:style:0.8>"
    assert cell.labels == ("CFG: 7", "blue", "Steps: 4")
    # the first S/R value is itself the first row: the prompt as typed
    assert plan.cell(0, 0, 0).request.prompt == BASE.prompt
    # everything else is the base request's
    assert cell.request.replace(cfg_scale=BASE.cfg_scale, steps=BASE.steps, prompt=BASE.prompt) == BASE


def test_prompt_sr_replaces_in_the_negative_prompt_too_and_takes_quoted_commas():
    plan = build_plan(BASE, 'prompt_sr=blurry,"sharp, detailed"')
    assert [c.request.negative_prompt for c in plan.cells] == ["blurry", "sharp, detailed"]
    assert plan.axes[0].labels == ("blurry", "sharp, detailed")
    assert plan.describe() == 'X: prompt_sr=blurry,"sharp, detailed"'


@pytest.mark.parametrize(
    ("text", "kind", "values"),
    [
        ("1-5", "int", ["1", "2", "3", "4", "5"]),
        ("10-30 (+10)", "int", ["10", "20", "30"]),
        ("30-10 (-10)", "int", ["30", "20", "10"]),
        ("1-10 [4]", "int", ["1", "4", "7", "10"]),
        ("0.2-1 [5]", "float", ["0.2", "0.4", "0.6", "0.8", "1"]),
        ("3-7 (+1.5)", "float", ["3", "4.5", "6"]),
        ("-1-1 (+1)", "float", ["-1", "0", "1"]),
        ("7", "float", None),
    ],
)
def test_ranges_expand(text, kind, values):
    assert expand_range(text, kind) == values


def test_ranges_mix_with_plain_values_and_axis_names_take_aliases():
    plan = build_plan(BASE, "Steps=1-3, 10", "CFG Scale=7", "sampler=Euler a, DPM++ 2M, heun")
    assert [c.request.steps for c in plan.cells[:4]] == [1, 2, 3, 10]
    assert [plan.cell(0, 0, z).request.sampler for z in range(3)] == ["euler_a", "dpmpp_2m", "heun"]
    assert plan.axes[2].labels == ("Euler a", "DPM++ 2M", "Heun")


def test_size_seed_schedule_and_denoise_axes():
    plan = build_plan(BASE, "size=64x128, 128x64", "seed=5,6", "schedule=karras,SGM Uniform")
    cell = plan.cell(1, 1, 1)
    assert (cell.request.width, cell.request.height, cell.request.seed) == (128, 64, 6)
    assert cell.request.schedule == "trailing"
    image = np.zeros((64, 64, 3), np.uint8)
    img2img = BASE.replace(mode="img2img", init_image=image)
    assert [c.request.strength for c in build_plan(img2img, "denoise=0.25-0.75 [3]").cells] == [
        0.25,
        0.5,
        0.75,
    ]


def test_lora_weight_sets_the_prompt_tag_or_the_explicit_lora(tmp_path):
    plan = build_plan(BASE, "lora_weight=style:0, 0.5, 1")
    assert [c.request.prompt for c in plan.cells] == [
        "a red cat, <lora:style:0>",
        "a red cat, <lora:style:0.5>",
        "a red cat, <lora:style:1>",
    ]
    assert plan.axes[0].header(1) == "LoRA style: 0.5"
    # no name: the prompt's only LoRA
    assert build_plan(BASE, "lora_weight=0.3").cells[0].request.prompt == "a red cat, <lora:style:0.3>"
    explicit = GenerationRequest(loras=((str(tmp_path / "detail.safetensors"), 1.0, 1.0),))
    cells = build_plan(explicit, "lora_weight=detail:0.2,0.4").cells
    assert [c.request.loras[0][1:] for c in cells] == [(0.2, 0.2), (0.4, 0.4)]
    assert cells[0].request.prompt == ""
    # a LoRA in the folder but not in the request: its tag is added
    (tmp_path / "other.safetensors").write_bytes(b"x")
    added = build_plan(BASE.replace(lora_dir=str(tmp_path)), "lora_weight=other:0.5").cells[0].request
    assert "<lora:other:0.5>" in added.prompt and "<lora:style:0.8>" in added.prompt


def test_model_axis_resolves_names_in_the_models_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("a.safetensors", "sub/b.ckpt"):
        (tmp_path / name).write_bytes(b"x")
    facts = {str(tmp_path / "a.safetensors"): ModelFacts(64), str(tmp_path / "sub/b.ckpt"): ModelFacts(8)}
    plan = build_plan(BASE, "model=a, b.ckpt", models_folder=tmp_path, describe_model=facts.__getitem__)
    assert [c.request.model for c in plan.cells] == list(facts)
    assert plan.axes[0].labels == ("a", "b")


def test_run_order_groups_cells_by_model(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.safetensors").write_bytes(b"x")
    plan = build_plan(BASE, "model=a,b", "cfg=1,2,3", models_folder=tmp_path)
    order = plan.run_order()
    assert [c.request.model[-13] for c in order] == list("aaabbb")
    assert [c.index for c in order] == [0, 2, 4, 1, 3, 5]


@pytest.mark.parametrize(
    ("axes", "message"),
    [
        (("cfg=3,abc",), "X axis cfg: 'abc' is not a number"),
        (("cfg=3,nan",), "X axis cfg: 'nan' is not a finite number"),
        (("cfg=-1",), "X axis cfg: '-1' is negative"),
        ((None, "steps=5,0"), "Y axis steps: '0' is not a step count"),
        (("steps=2.5",), "X axis steps: '2.5' is not a whole number"),
        (("seed=-3",), "X axis seed: '-3' is not a seed"),
        (("sampler=euler,turbo",), "X axis sampler: 'turbo' is not a sampler: expected one of ddim"),
        (("schedule=exponential",), "X axis schedule: 'exponential' is not a schedule"),
        (("size=64x64,65x64",), "X axis size: '65x64' is not a multiple of 8"),
        (("size=big",), "X axis size: 'big' is not a size"),
        (("prompt_sr=dog,cat",), "X axis prompt_sr: 'dog' is not in the prompt or the negative prompt"),
        (("denoise=0.5",), "X axis denoise: only for img2img and inpaint, not txt2img"),
        (("model=nothing",), "X axis model: 'nothing' is not a checkpoint file"),
        (("lora_weight=a:0.1,b:0.2",), "X axis lora_weight: one LoRA per axis"),
        (("lora_weight=ghost:0.5",), "X axis lora_weight: no LoRA named 'ghost'"),
        (("colour=red",), "X axis 'colour=red': write name=value1,value2"),
        (("cfg",), "X axis 'cfg': write name=value1,value2"),
        (("cfg=",), "X axis cfg: no values"),
        (("cfg=3", None, "cfg=4"), "X and Z axes both vary cfg"),
        (("steps=1-5 (-1)",), "X axis steps: '1-5 (-1)' has a step that never reaches the end"),
        (("seed=0-100000",), f"X axis seed: '0-100000' makes 100001 values: at most {MAX_CELLS}"),
        (("seed=0-30", "steps=1-30"), f"the grid has 930 cells (31x30x1): at most {MAX_CELLS}"),
        ((None, None, None), "a grid needs at least one axis"),
        (("steps=1001",), "X axis steps: '1001' is not a step count: 1 to 1000"),
    ],
)
def test_bad_axes_are_one_line_naming_axis_value_and_why(axes, message):
    with pytest.raises(InputError) as caught:
        build_plan(BASE, *axes)
    text = str(caught.value)
    assert text.startswith(message), text
    assert "\n" not in text


def test_the_model_s_size_multiple_is_checked_per_cell(tmp_path):
    (tmp_path / "big.safetensors").write_bytes(b"x")
    (tmp_path / "small.safetensors").write_bytes(b"x")

    def describe(path):
        return ModelFacts(64 if "big" in path else 8)

    with pytest.raises(InputError, match=r"^Y axis model: 'big': 72x72 is not a multiple of 64, which big"):
        build_plan(
            BASE.replace(width=72, height=72),
            "cfg=1",
            "model=small,big",
            models_folder=tmp_path,
            describe_model=describe,
        )
    with pytest.raises(InputError, match=r"^X axis model: 'small' cannot do inpaint"):
        build_plan(
            BASE.replace(mode="inpaint", init_image=np.zeros((8, 8, 3), np.uint8)),
            "model=small",
            models_folder=tmp_path,
            describe_model=lambda p: ModelFacts(8, ("txt2img",), "SD 1.x"),
        )


def test_a_batch_is_refused_and_limits_are_checked_per_cell():
    with pytest.raises(InputError, match="one image per cell: set the batch size to 1"):
        build_plan(BASE.replace(batch_size=2), "cfg=1,2")
    with pytest.raises(InputError, match=r"^grid cell CFG: 2: CFG rescale must be between 0 and 1"):
        build_plan(BASE.replace(cfg_rescale=2.0), "cfg=2")


def test_hostile_values_stay_one_printable_line():
    with pytest.raises(InputError) as caught:
        build_plan(BASE, "prompt_sr=red,\ud800")
    assert str(caught.value).startswith("grid cell \\ud800: the prompt holds an invalid character")
    str(caught.value).encode("utf-8")  # printable
    with pytest.raises(InputError) as caught:
        build_plan(BASE, "prompt_sr=" + "x" * 5000)
    assert len(str(caught.value)) < 300
    with pytest.raises(InputError, match=r"^X axis cfg: cannot split '1\\n2' into values"):
        build_plan(BASE, "cfg=1\n2")


def test_split_axis_reads_csv_quoting():
    assert split_axis('prompt_sr = red, "blue, green" ,, "say ""hi"""') == (
        "prompt_sr",
        ["red", "blue, green", 'say "hi"'],
    )
