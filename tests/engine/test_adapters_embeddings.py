"""Textual-inversion files in the four layouts: vectors, counts, family, one-line errors."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from ldm_studio.engine.adapters.embeddings import read_embedding
from ldm_studio.engine.errors import CheckpointError, InputError
from tests.adapter_files import (
    write_a1111_embedding,
    write_diffusers_embedding,
    write_lora,
    write_safetensors_embedding,
    write_sdxl_embedding,
)


def _vectors(n: int, width: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, width, generator=torch.Generator().manual_seed(seed))


def test_a1111_pt(tmp_path):
    vectors = _vectors(3, 768)
    embedding = read_embedding(write_a1111_embedding(tmp_path / "bad-hands.pt", vectors))
    assert embedding.name == "bad-hands" and embedding.num_vectors == 3 and embedding.family == "sd1"
    assert torch.equal(embedding.vectors_for("te1", 768), vectors)


def test_safetensors_emb_params_in_half(tmp_path):
    vectors = _vectors(5, 1024).half()
    embedding = read_embedding(
        write_safetensors_embedding(tmp_path / "style.safetensors", vectors, torch.float16)
    )
    assert embedding.family == "sd2" and embedding.num_vectors == 5
    assert torch.equal(embedding.vectors["te1"], vectors.float())


def test_sdxl_pair(tmp_path):
    clip_l, clip_g = _vectors(2, 768, 1), _vectors(2, 1280, 2)
    embedding = read_embedding(write_sdxl_embedding(tmp_path / "xl.safetensors", clip_l, clip_g))
    assert embedding.family == "sdxl" and embedding.num_vectors == 2
    assert torch.equal(embedding.vectors_for("te1", 768), clip_l)
    assert torch.equal(embedding.vectors_for("te2", 1280), clip_g)


def test_diffusers_bin(tmp_path):
    vector = _vectors(1, 768)[0]
    embedding = read_embedding(
        write_diffusers_embedding(tmp_path / "learned_embeds.bin", "<cat-toy>", vector)
    )
    assert embedding.num_vectors == 1 and embedding.name == "learned_embeds"
    assert torch.equal(embedding.vectors["te1"][0], vector)


def test_wrong_width_names_both(tmp_path):
    embedding = read_embedding(write_a1111_embedding(tmp_path / "e.pt", _vectors(2, 768)))
    with pytest.raises(
        InputError, match=r"^embedding 'e' is for SD 1.x \(768 wide\), not this model's 1024-wide"
    ):
        embedding.vectors_for("te1", 1024)
    with pytest.raises(InputError):
        embedding.vectors_for("te2", 1280)


def test_bad_embedding_files(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"string_to_param": {"*": torch.ones(1, 8)}, "hook": replace}, str(evil))
    with pytest.raises(CheckpointError, match=r"evil\.pt needs code to unpickle"):
        read_embedding(evil)
    nan = _vectors(2, 8)
    nan[1, 1] = float("nan")
    with pytest.raises(InputError, match="holds NaN"):
        read_embedding(write_safetensors_embedding(tmp_path / "nan.safetensors", nan))
    lora = write_lora(tmp_path / "lora.safetensors", {"lora_unet_a": (8, 8)})
    with pytest.raises(InputError, match="is a LoRA, not an embedding"):
        read_embedding(lora)
    cut = write_safetensors_embedding(tmp_path / "cut.safetensors", _vectors(4, 64))
    cut.write_bytes(cut.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match=r"cut\.safetensors is damaged or truncated"):
        read_embedding(cut)
