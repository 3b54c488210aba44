"""`python -m ldm_studio.bench --quick`: ours against diffusers, and ours alone when diffusers is missing.

The timings themselves are not checked (a shared CI machine makes them noise); what is checked is what a
developer reads: every row, a number for each side, a ratio, and the plain message when there is nothing
to compare with.
"""

import importlib.util
import re
import sys

import pytest

from ldm_studio.bench.__main__ import main

ROWS = (
    "checkpoint load (same file)",
    "UNet step, CFG (batch 2)",
    "VAE decode 64²",
    "Generate → first preview (wall)",
    "txt2img 2 steps 64²",
)
FAST = ["--quick", "--repeats", "1", "--steps", "2", "--sizes", "64", "--threads", "1"]
NUMBER = r"\d+(\.\d+)? (ms|s|MiB|GiB)"


def _row(output: str, label: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith(label)]
    assert lines, f"no row {label!r} in:\n{output}"
    return lines[0]


def test_without_diffusers_ours_is_timed_and_the_comparison_is_skipped(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "diffusers", None)  # `import diffusers` now raises ImportError
    assert main([*FAST, "--workdir", str(tmp_path)]) == 0
    output = capsys.readouterr().out
    assert "comparison skipped: diffusers is not installed" in output
    for label in (*ROWS, "peak RSS, txt2img"):
        ours, theirs, ratio = re.split(r"\s{2,}", _row(output, label).strip())[1:]
        assert re.fullmatch(NUMBER, ours), ours
        assert (theirs, ratio) == ("—", "—")
    assert not list(tmp_path.glob("diffusers-*")), "nothing of diffusers' should have been written"


@pytest.mark.skipif(importlib.util.find_spec("diffusers") is None, reason="diffusers is not installed")
def test_with_diffusers_every_row_has_both_sides_and_a_ratio(capsys, tmp_path):
    plot = tmp_path / "plot.png"
    with_plot = importlib.util.find_spec("matplotlib") is not None  # a development extra, not a test one
    plot_args = ["--plot", str(plot)] if with_plot else []
    assert main([*FAST, "--no-memory", "--workdir", str(tmp_path), *plot_args]) == 0
    output = capsys.readouterr().out
    for label in (*ROWS, "checkpoint load (diffusers: own folder)"):
        ours, theirs, ratio = re.split(r"\s{2,}", _row(output, label).strip())[1:]
        assert re.fullmatch(NUMBER, ours) and re.fullmatch(NUMBER, theirs), (ours, theirs)
        assert re.fullmatch(r"\d+\.\d\d×", ratio), ratio
    assert "> 1 means ours is faster" in output
    if with_plot:
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_plot_without_matplotlib_is_refused_with_the_install_hint(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else 1)
    with pytest.raises(SystemExit) as exit_:
        main(["--quick", "--plot", str(tmp_path / "plot.png")])
    assert exit_.value.code == 2
    assert "pip install matplotlib" in capsys.readouterr().err


def test_before_each_load_every_sides_model_is_dropped_and_freed_heap_returned(monkeypatch):
    # The load row's fairness rests on this order: each load starts with no model of either side
    # resident and the freed heap handed back, whichever side ran before it.
    from ldm_studio.bench import compare

    events = []

    class Runner:
        def __init__(self, name):
            self.name = name

        def unload(self):
            events.append(f"unload {self.name}")

    monkeypatch.setattr(compare, "return_free_memory", lambda: events.append("trim"))
    compare.unload_all([Runner("ours"), Runner("diffusers")])()
    assert events == ["unload ours", "unload diffusers", "trim"]


def test_every_configuration_loads_untimed_before_timing_its_loads():
    # The sd15 configurations time their other rows without a warm-up (one run costs minutes), but a
    # first load also pays for imports; timed, that put 8.2 s against 4.4 s into whichever side ran first.
    from ldm_studio.bench.compare import load_warmup
    from ldm_studio.bench.spec import CONFIGS

    assert CONFIGS["sd15-cpu"].warmup == 0
    assert all(load_warmup(spec) >= 1 for spec in CONFIGS.values())
