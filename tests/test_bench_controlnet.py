"""The ControlNet benchmark runs on the tiny model: both sides, ratios, peak memory, raw JSON."""

import json

import pytest
import torch

pytest.importorskip("diffusers")


def test_controlnet_bench_prints_both_sides_and_writes_json(capsys, tmp_path):
    from ldm_studio.bench.controlnet import main

    out_json = tmp_path / "cn.json"
    assert main(["--shapes", "tiny", "--size", "64", "--repeats", "1", "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    for row in ("UNet step", "UNet + ControlNet step", "ControlNet alone"):
        line = next(line for line in out.splitlines() if line.startswith(row + " "))
        assert line.rstrip().endswith("x")
    assert "peak memory ours" in out and "peak memory diffusers" in out
    payload = json.loads(out_json.read_text())
    assert set(payload["seconds"]["ControlNet alone"]) == {"ours", "diffusers"}
    assert payload["memory"]["ours"]["step_peak_bytes"] > 0


def test_both_sides_compute_the_same_step():
    """The timed work is the same on both sides: the same weights give the same UNet output."""
    from ldm_studio.bench.controlnet import _inputs, _ours, _theirs

    ours = _ours("tiny")
    theirs = _theirs(*ours, "tiny")
    x, hint, t, context = _inputs(64, 32)
    with torch.no_grad():
        down, mid = ours[1](x, hint, t, context)
        mine = ours[0](x, t, context=context, down_residuals=down, mid_residual=mid)
        their_down, their_mid = theirs[1](
            x, t, encoder_hidden_states=context, controlnet_cond=hint.expand(2, -1, -1, -1), return_dict=False
        )
        their = theirs[0](
            x, t, encoder_hidden_states=context, down_block_additional_residuals=their_down,
            mid_block_additional_residual=their_mid, return_dict=False,
        )[0]  # fmt: skip
    assert (mine - their).abs().max() < 1e-4
