"""`<lora:NAME:M>` prompt tags as A1111 writes them: parsed out, weights edited, linear time."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from ldm_studio.engine.adapters.prompt_tags import (
    format_lora_tag,
    parse_lora_tags,
    remove_lora_tag,
    set_lora_weight,
)
from ldm_studio.engine.errors import InputError


def _weights(prompt: str) -> list[tuple[str, float, float]]:
    return [(t.name, t.te, t.unet) for t in parse_lora_tags(prompt)[1]]


def test_every_form_of_the_tag():
    prompt = "a cat <lora:film grain:0.8>, <lyco:Ink-v2:0.5:1.2> <LORA:plain> <lora:x:te=0.2:unet=-0.3> end"
    text, tags = parse_lora_tags(prompt)
    assert text == "a cat ,    end"
    assert [(t.kind, t.name, t.te, t.unet) for t in tags] == [
        ("lora", "film grain", 0.8, 0.8),
        ("lyco", "Ink-v2", 0.5, 1.2),
        ("lora", "plain", 1.0, 1.0),
        ("lora", "x", 0.2, -0.3),
    ]
    assert prompt[tags[0].start : tags[0].end] == "<lora:film grain:0.8>"


def test_text_that_only_looks_like_a_tag_stays():
    prompt = "<lora:> <lora:a:b:c:d <notlora:x:1> <lora:a<lora:b:1>"
    text, tags = parse_lora_tags(prompt)
    assert [t.name for t in tags] == ["b"]
    assert text == "<lora:> <lora:a:b:c:d <notlora:x:1> <lora:a"


def test_a_weight_that_is_not_a_number_is_one_line_error():
    with pytest.raises(InputError, match=r"^<lora:a:strong>: 'strong' is not a number$"):
        parse_lora_tags("x <lora:a:strong>")


def test_set_weight_edits_every_tag_of_that_name_or_appends_one():
    assert set_lora_weight("a <lora:foo:1> b <lora:bar:1>", "foo", 0.35) == "a <lora:foo:0.35> b <lora:bar:1>"
    assert set_lora_weight("a <lyco:foo:1:1>", "foo", 0.5, 0.75) == "a <lyco:foo:0.5:0.75>"
    assert set_lora_weight("a cat", "foo", 1.0) == "a cat <lora:foo:1>"
    assert set_lora_weight("a cat, ", "foo", 0.8) == "a cat, <lora:foo:0.8>"
    assert set_lora_weight("", "foo", -0.25) == "<lora:foo:-0.25>"
    assert format_lora_tag("n", 0.5, 0.5) == "<lora:n:0.5>"
    assert remove_lora_tag("a <lora:foo:1> b <lora:bar:1>", "foo") == "a  b <lora:bar:1>"


@pytest.mark.parametrize(
    "prompt",
    [
        "x <lora:a:0.5> " * 70_000,  # 1 MB of real tags
        "<lora:" + "a" * 1_000_000,  # an unclosed tag
        "<lora:a" + ":" * 1_000_000,  # an unclosed tag of empty arguments
        "<lora:a" * 150_000,  # many unclosed tags
    ],
)
def test_a_megabyte_prompt_parses_in_well_under_a_second(prompt):
    start = time.perf_counter()
    parse_lora_tags(prompt)
    assert time.perf_counter() - start < 0.8  # ~0.03-0.3 s here; slack for a busy CI machine


def test_the_module_imports_no_torch():
    code = "import sys, ldm_studio.engine.adapters.prompt_tags; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
