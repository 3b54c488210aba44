"""Hostile metadata: a parameters line the A1111 regex would take minutes on, JSON chunks nested past the
parser's recursion. Each gives the same answer as before, quickly, or a one-line InputError."""

import random
import time

import pytest
from PIL import Image, PngImagePlugin

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.metadata import parse_infotext, read_png_request
from ldm_studio.engine.metadata.a1111 import PARAM_PATTERN, find_parameters


def _png(path, **chunks):
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)
    Image.new("RGB", (4, 4)).save(path, pnginfo=info)
    return path


def test_scanner_gives_the_regexs_pairs_on_random_lines():
    rng = random.Random(21)
    alphabet = ["a", "b", " ", ":", ",", '"', "\\", "\t", "-", "/", "é", "1", "_", "\r", ".", "K: ", '"x"']
    for _ in range(30000):
        line = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        assert find_parameters(line) == PARAM_PATTERN.findall(line), repr(line)


@pytest.mark.parametrize(
    "line",
    [
        "a " * 500_000,  # the freeze from issue 21: no colon, every start re-read the rest of the line
        "x" * 1_000_000,
        'ab: "x, ' * 125_000,
        "ab: c, " * 140_000,
        "Steps: " + "a " * 500_000,
        "a" + " " * 1_000_000,
    ],
)
def test_a_one_megabyte_parameters_line_parses_in_well_under_a_second(line):
    start = time.perf_counter()
    parse_infotext("a prompt\n" + line)
    assert time.perf_counter() - start < 1.0  # measured 0.002-0.2 s; the regex takes minutes on the first


def test_time_grows_linearly_not_quadratically():
    def seconds(n):
        start = time.perf_counter()
        find_parameters("a " * n)
        return time.perf_counter() - start

    seconds(1000)
    small, big = min(seconds(50_000) for _ in range(3)), min(seconds(400_000) for _ in range(3))
    assert big < 40 * small + 0.02  # 8x the input: linear is ~8x, quadratic would be ~64x


@pytest.mark.parametrize("chunk", ["ldm_studio", "prompt"])
@pytest.mark.parametrize("nest", ["[" * 100_000, '{"a":' * 100_000])
def test_json_chunk_nested_100000_deep_is_refused_with_a_message(tmp_path, chunk, nest):
    path = _png(tmp_path / "deep.png", **{chunk: nest})
    with pytest.raises(InputError, match="nested too deeply") as caught:
        read_png_request(path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("bad", ["1" * 5000, "[NaN]", '{"cfg_scale": 1e999}', "{"])
def test_other_damaged_chunks_of_ours_fall_back_quietly(tmp_path, bad):
    text = "a house\nSteps: 12, Sampler: Heun, CFG scale: 5, Seed: 77, Size: 256x320"
    request = read_png_request(_png(tmp_path / "d.png", ldm_studio=bad, parameters=text))
    assert (request.prompt, request.steps, request.seed) == ("a house", 12, 77)
