"""The torch-free adapter listing (engine/adapter_scan.py) tells what the torch reader tells, from headers."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from ldm_studio.engine.adapter_scan import AdapterEntry, adapter_kind, incompatibility, scan_adapters
from ldm_studio.engine.adapters.embeddings import read_embedding
from ldm_studio.engine.adapters.lora_files import read_adapter_file
from tests.adapter_files import loha_tensors, write_lora, write_safetensors_embedding, write_sdxl_embedding

K = "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k"
CASES = [
    ({K: (320, 768)}, {}),
    ({K: (320, 1024)}, {}),
    ({"lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k": (640, 2048)}, {}),
    ({"lora_te_text_model_encoder_layers_0_self_attn_q_proj": (1024, 1024)}, {}),
    ({"lora_te_text_model_encoder_layers_0_self_attn_q_proj": (768, 768)}, {}),
    ({"lora_te2_text_model_encoder_layers_0_self_attn_q_proj": (1280, 1280)}, {}),
    ({"lora_unet_a": (8, 8)}, {"ss_base_model_version": "sdxl_base_v1-0"}),
    ({"lora_unet_a": (8, 8)}, {"modelspec.architecture": "stable-diffusion-v2-512/lora"}),
    ({"lora_unet_a": (8, 8)}, {}),
]


@pytest.mark.parametrize(("shapes", "metadata"), CASES)
def test_the_lora_family_equals_the_torch_readers(tmp_path, shapes, metadata):
    path = write_lora(tmp_path / "f.safetensors", shapes, rank=1, metadata=metadata)
    (entry,) = scan_adapters(tmp_path, "lora")
    assert entry.family == read_adapter_file(path).family
    assert entry.problem == ""


def test_peft_and_loha_names_are_read_too(tmp_path):
    module = "unet.mid_block.attentions.0.transformer_blocks.0.attn2.to_k"
    peft = {f"{module}.lora_A.weight": torch.zeros(1, 1024), f"{module}.lora_B.weight": torch.zeros(320, 1)}
    save_file(peft, str(tmp_path / "peft.safetensors"))
    save_file(loha_tensors({K: (320, 768)}), str(tmp_path / "loha.safetensors"))
    families = {e.name: e.family for e in scan_adapters(tmp_path, "lora")}
    assert families == {"loha": "sd1", "peft": "sd2"}
    assert read_adapter_file(tmp_path / "peft.safetensors").family == "sd2"


def test_triggers_preview_and_a_damaged_file(tmp_path):
    tags = {"10_style": {"mystyle": 30, "1girl": 12}, "5_extra": {"1girl": 20, " outdoors ": 3}}
    path = write_lora(
        tmp_path / "t.safetensors", {K: (8, 768)}, metadata={"ss_tag_frequency": json.dumps(tags)}
    )
    (tmp_path / "t.preview.png").write_bytes(b"png")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{trunc")
    (tmp_path / "old.pt").write_bytes(b"\x80\x02")
    old, bad, lora = scan_adapters(tmp_path, "lora")  # sorted by path: old.pt, sub/bad…, t…
    assert lora.triggers == tuple(read_adapter_file(path).trigger_words) == ("1girl", "mystyle", "outdoors")
    assert lora.preview == tmp_path / "t.preview.png"
    assert "bad.safetensors cannot be read" in bad.problem
    assert old.family is None and old.problem == ""  # pickled: listed, family unknown


def test_embedding_families_and_incompatibility(tmp_path):
    write_safetensors_embedding(tmp_path / "one.safetensors", torch.zeros(2, 768))
    write_safetensors_embedding(tmp_path / "two.safetensors", torch.zeros(1, 1024))
    write_sdxl_embedding(tmp_path / "xl.safetensors", torch.zeros(3, 768), torch.zeros(3, 1280))
    entries = {e.name: e for e in scan_adapters(tmp_path, "embedding")}
    for name, entry in entries.items():
        assert entry.family == read_embedding(tmp_path / f"{name}.safetensors").family
    assert (entries["one"].vectors, entries["xl"].vectors) == (2, 3)
    assert (
        incompatibility(entries["xl"], "sd1-inpaint")
        == "this embedding is for SDXL, the chosen model is SD 1.x"
    )
    assert incompatibility(entries["xl"], "sdxl-refiner") == ""
    assert incompatibility(entries["one"], "demo-shapes") == ""  # nobody can tell: offered
    assert incompatibility(AdapterEntry(tmp_path / "x.pt", "lora"), "sdxl") == ""


def test_adapter_kind_tells_loras_and_embeddings_from_checkpoints(tmp_path):
    lora = write_lora(tmp_path / "l.safetensors", {K: (8, 768)})
    emb = write_safetensors_embedding(tmp_path / "e.safetensors", torch.zeros(1, 768))
    xl = write_sdxl_embedding(tmp_path / "x.safetensors", torch.zeros(1, 768), torch.zeros(1, 1280))
    save_file({"model.diffusion_model.out.2.weight": torch.zeros(4, 4)}, str(tmp_path / "c.safetensors"))
    kinds = [
        adapter_kind(p) for p in (lora, emb, xl, tmp_path / "c.safetensors", tmp_path / "none.safetensors")
    ]
    assert kinds == ["lora", "embedding", "embedding", None, None]
