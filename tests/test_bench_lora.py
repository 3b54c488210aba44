"""The LoRA benchmark runs on the tiny model and prints both sides with a ratio."""

import pytest

pytest.importorskip("diffusers")
pytest.importorskip("peft")


def test_lora_bench_prints_both_rows_with_ratios(capsys):
    from ldm_studio.bench.lora import main

    assert main(["--shapes", "tiny", "--repeats", "1", "--rank", "4"]) == 0
    out = capsys.readouterr().out
    for row in ("apply + remove", "weight change"):
        line = next(line for line in out.splitlines() if line.startswith(row))
        assert line.rstrip().endswith("x") and len(line.split()) >= 4
    assert "extra memory while merged" in out
