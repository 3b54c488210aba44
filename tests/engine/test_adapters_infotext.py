"""Lora / TI hashes in the infotext as A1111 writes, read back; a dropped PNG: LoRAs found or missing."""

from __future__ import annotations

from ldm_studio.engine.adapters.folders import find_adapter, missing_loras, resolve_lora_tags
from ldm_studio.engine.metadata.a1111 import (
    format_infotext,
    parse_hash_list,
    parse_infotext,
    request_from_infotext,
)
from ldm_studio.engine.requests import GenerationRequest

A1111_LINE = (
    "a cat <lora:style:0.8>, <lora:gone:1>\nNegative prompt: blurry\n"
    "Steps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 512x512, Model hash: 0123456789, Model: m, "
    'Lora hashes: "style: 8f3a2b1c4d5e, gone: 001122334455", TI hashes: "shiny: abcdefabcdef", '
    "Version: v1.10.1"
)


def test_hashes_written_as_a1111_and_read_back():
    request = GenerationRequest(prompt="a cat <lora:style:0.8>", negative_prompt="shiny")
    text = format_infotext(request, seed=1, lora_hashes={"style": "8f3a2b1c4d5e", "b": "0" * 12},
                           ti_hashes={"shiny": "abcdefabcdef"})  # fmt: skip
    assert 'Lora hashes: "style: 8f3a2b1c4d5e, b: 000000000000"' in text
    assert 'TI hashes: "shiny: abcdefabcdef"' in text
    params = parse_infotext(text)
    assert params["Prompt"] == "a cat <lora:style:0.8>"
    assert parse_hash_list(params["Lora hashes"]) == {"style": "8f3a2b1c4d5e", "b": "000000000000"}
    assert parse_hash_list(params["TI hashes"]) == {"shiny": "abcdefabcdef"}
    assert "Lora hashes" not in format_infotext(request, seed=1)


def test_a1111_png_restores_present_loras_and_names_missing(tmp_path):
    params = parse_infotext(A1111_LINE)
    assert parse_hash_list(params["Lora hashes"]) == {"style": "8f3a2b1c4d5e", "gone": "001122334455"}
    request = request_from_infotext(A1111_LINE)
    assert "<lora:style:0.8>" in request.prompt  # the tags stay: the LoRAs come back with the prompt
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "Style.safetensors").write_bytes(b"x")
    assert missing_loras(request.prompt, tmp_path) == (["style"], ["gone"])
    assert find_adapter("style", tmp_path) == tmp_path / "sub" / "Style.safetensors"
    assert missing_loras(request.prompt, None) == ([], ["style", "gone"])


def test_resolve_tags_removes_them_and_keeps_weights(tmp_path):
    (tmp_path / "a.safetensors").write_bytes(b"x")
    (tmp_path / "b.pt").write_bytes(b"x")
    text, loras = resolve_lora_tags("x <lora:a:0.5> y <lora:b:1:0.25>", tmp_path)
    assert text == "x  y "
    assert loras == [(tmp_path / "a.safetensors", 0.5, 0.5), (tmp_path / "b.pt", 1.0, 0.25)]
    assert resolve_lora_tags("no tags", None) == ("no tags", [])


def test_our_json_chunk_leaves_local_folders_out():
    from ldm_studio.engine.metadata.ours import shareable_json

    loras = (("/home/me/loras/a.safetensors", 0.5, 1.0),)
    request = GenerationRequest(loras=loras, lora_dir="/home/me/loras", embeddings_dir="/home/me/emb")
    values = shareable_json(request)
    assert values["loras"] == [["a.safetensors", 0.5, 1.0]]
    assert values["lora_dir"] is None and values["embeddings_dir"] is None
    assert GenerationRequest.from_dict(values).loras == (("a.safetensors", 0.5, 1.0),)
