"""A converting load leaves no second copy of the weights resident: mapped file pages are released."""

import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from ldm_studio.engine.checkpoints.files import CheckpointReader, open_checkpoint
from ldm_studio.engine.checkpoints.loading import load_model
from tests.sdxl_checkpoints import tiny_sdxl_state_dict, write_tiny_sdxl_checkpoint

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise / smaps are Linux's")


def _mapped_rss(path: Path) -> int:
    """Resident bytes of this process's mappings of `path` (from /proc/self/smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5:  # a mapping's header line
            inside = line.endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(head[1]) * 1024
    return total


@linux
def test_release_drops_the_pages_and_the_tensor_still_reads_back(tmp_path):
    path = tmp_path / "big.safetensors"
    values = torch.randn(3, 2**20, generator=torch.Generator().manual_seed(0)).half()
    save_file({"a": values[0].clone(), "b": values[1].clone(), "c": values[2].clone()}, str(path))
    with open_checkpoint(path) as reader:
        b = reader.tensor("b")
        assert torch.equal(b, values[1])  # every page of b read: resident
        before = _mapped_rss(path)
        assert before >= 2**21
        reader.release(b)
        after = _mapped_rss(path)
        assert before - after >= 2**21 - 2 * 4096  # all of b's whole pages
        assert torch.equal(b, values[1])  # read again: the same bytes, from the file
        assert torch.equal(reader.tensor("a"), values[0]) and torch.equal(reader.tensor("c"), values[2])


@linux
def test_release_never_touches_memory_outside_the_files_mapping(tmp_path):
    path = tmp_path / "small.safetensors"
    save_file({"a": torch.ones(4096)}, str(path))
    heap = torch.full((2**20,), 3.0)
    with open_checkpoint(path) as reader:
        reader.tensor("a")
        reader.release(heap)  # MADV_DONTNEED here would zero it
    assert bool((heap == 3.0).all())


def test_an_fp32_load_of_an_fp16_file_releases_every_converted_tensor(tmp_path, monkeypatch):
    path = write_tiny_sdxl_checkpoint(tmp_path / "half.safetensors", "sdxl", dtype=torch.float16)
    released = []
    original = CheckpointReader.release
    monkeypatch.setattr(CheckpointReader, "release", lambda self, t: (released.append(t), original(self, t)))
    model = load_model(path, device="cpu", precision="fp32")
    assert len(released) > 100 and all(t.dtype == torch.float16 for t in released)
    expected = tiny_sdxl_state_dict("sdxl")
    for key, tensor in model.unet.state_dict().items():  # fp16 → fp32 is exact: the file's values
        assert tensor.dtype == torch.float32
        assert torch.equal(tensor, expected["model.diffusion_model." + key].half().float()), key
    released.clear()
    load_model(path, device="cpu", precision="fp16")  # nothing converted: the mapped pages ARE the weights
    assert released == []
