"""Freed heap memory goes back to the operating system before a CPU decode."""

import sys
from pathlib import Path

import pytest
import torch

from ldm_studio.engine.runtime.host_memory import return_free_memory


def _rss_mib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; malloc_trim is glibc's")
def test_freed_tensors_stop_counting_against_the_process_after_a_trim():
    # 64 KiB tensors come from the C heap, which keeps freed blocks resident; the last one stays alive,
    # so the heap cannot simply shrink from its top.
    blocks = [torch.ones(16 * 1024) for _ in range(3000)]  # ~190 MiB
    keep = blocks[-1]
    del blocks
    before = _rss_mib()
    assert return_free_memory()
    assert before - _rss_mib() > 100
    assert keep.sum() == 16 * 1024
