"""The canvas bench runs (small sizes) and prints the sketch and outpaint rows."""

from ldm_studio.bench import canvas as canvas_bench


def test_the_canvas_bench_prints_the_sketch_and_outpaint_rows(qapp, capsys):
    canvas_bench.main(["--size", "256", "--segments", "20"])
    out = capsys.readouterr().out
    assert "sketch layer visible, sketching" in out and "sketch layer visible, mask brush" in out
    assert "outpaint: extend 256² by 512 px" in out and "worst wall-clock median" in out
