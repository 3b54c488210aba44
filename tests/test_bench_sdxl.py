"""The SDXL bench code path runs on a tiny SDXL file (so it cannot rot)."""

import torch

from ldm_studio.bench.sdxl import measure_ours
from tests.sdxl_checkpoints import write_tiny_sdxl_checkpoint


def test_sdxl_bench_ours_on_tiny_file(tmp_path):
    path = write_tiny_sdxl_checkpoint(tmp_path / "tiny_sdxl.safetensors", "sdxl", dtype=torch.float16)
    result = measure_ours(path, size=64, steps=1, repeats=1)
    # An fp16 file doubles in fp32 (the int64 position ids are a rounding error).
    assert 1.9 < result["file_fp32_bytes"] / path.stat().st_size < 2.1
    assert result["load_s"] > 0 and result["txt2img_s"] > 0
    assert result["peak_rss"] >= result["load_peak_rss"] > 0
