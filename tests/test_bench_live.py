"""`python -m ldm_studio.bench.live`: the live-mode latency rows run on the bundled demo model."""

from __future__ import annotations

import math

import pytest

from ldm_studio.bench.live import main, measure


def test_live_rows_time_the_first_preview_before_the_final_image(torch_threads):
    from ldm_studio.engine.checkpoints.demo_models import demo_model_path
    from ldm_studio.engine.checkpoints.loading import load_model
    from ldm_studio.engine.requests import GenerationRequest

    torch_threads(2)
    model = load_model(demo_model_path("txt2img"), device="cpu")
    base = GenerationRequest(prompt="a red circle", steps=3, width=64, height=64, device="cpu")
    idle, busy = measure(model, base, repeats=1)
    for row in (idle, busy):
        assert len(row.first_preview) == len(row.final) == 1
        assert 0 < row.first_preview[0] < row.final[0] and not math.isnan(row.final[0])


@pytest.mark.slow  # loads the demo model and runs 128² images
def test_the_command_prints_the_verdict(capsys, torch_threads):
    torch_threads(2)
    assert main(["--steps", "2", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "edit → first preview" in out and "while running" in out
