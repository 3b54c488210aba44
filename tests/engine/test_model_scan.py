"""Scanning the models folder and adding models to it: what the models panel lists and why."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from ldm_studio.engine.errors import LdmError
from ldm_studio.engine.file_hashes import short_hash as model_hash
from ldm_studio.engine.model_scan import (
    add_model_file,
    inspect_model,
    list_checkpoints,
    scan_models,
)


def test_checkpoints_are_found_in_sub_folders_sorted_and_other_files_skipped(tmp_path):
    for name in ("b.safetensors", "sub/A.ckpt", "notes.txt", ".hidden.safetensors", ".cache/c.ckpt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert [p.relative_to(tmp_path).as_posix() for p in list_checkpoints(tmp_path)] == [
        "b.safetensors",
        "sub/A.ckpt",
    ]


def test_a_missing_models_folder_says_what_to_do(tmp_path):
    with pytest.raises(LdmError, match=r"does not exist\. Create it, or choose another in Preferences"):
        list_checkpoints(tmp_path / "missing")


def test_unusable_files_are_listed_with_the_reason(tmp_path):
    (tmp_path / "truncated.safetensors").write_bytes(b"\x08\x00\x00")
    save_file({"some.other.weight": torch.zeros(2, 2)}, str(tmp_path / "lora.safetensors"))
    entries = {entry.name: entry for entry in scan_models(tmp_path)}
    assert set(entries) == {"truncated", "lora"}
    assert not any(entry.usable for entry in entries.values())
    assert "truncated.safetensors" in entries["truncated"].problem
    assert entries["lora"].problem  # says what it found instead of hiding the file


def test_inspect_never_raises_for_a_file_that_vanished(tmp_path):
    entry = inspect_model(tmp_path / "gone.ckpt")
    assert not entry.usable and "gone.ckpt" in entry.problem


def test_adding_a_model_never_replaces_one_already_there(tmp_path):
    source = tmp_path / "downloads" / "model.safetensors"
    source.parent.mkdir()
    source.write_bytes(b"new weights")
    models = tmp_path / "models"
    models.mkdir()
    (models / "model.safetensors").write_bytes(b"old weights")

    added = add_model_file(source, models)

    assert (models / "model.safetensors").read_bytes() == b"old weights"
    assert added == models / "model-1.safetensors" and added.read_bytes() == b"new weights"
    assert sorted(os.listdir(models)) == ["model-1.safetensors", "model.safetensors"]  # no temp files left


def test_adding_creates_the_models_folder_and_refuses_non_checkpoints(tmp_path):
    source = tmp_path / "m.ckpt"
    source.write_bytes(b"weights")
    added = add_model_file(source, tmp_path / "new" / "models")
    assert added.read_bytes() == b"weights"
    picture = tmp_path / "cat.png"
    picture.write_bytes(b"png")
    with pytest.raises(LdmError, match=r"cat\.png is not a checkpoint"):
        add_model_file(picture, tmp_path / "new" / "models")


def test_the_copy_is_independent_of_a_later_change_to_the_source_name(tmp_path):
    source = tmp_path / "m.safetensors"
    source.write_bytes(b"weights")
    added = add_model_file(source, tmp_path / "models")
    source.unlink()  # the user cleans up the download folder
    assert Path(added).read_bytes() == b"weights"


def test_the_short_hash_is_a1111s_model_hash(tmp_path):
    from ldm_studio.engine.file_hashes import short_hash

    path = tmp_path / "m.safetensors"
    path.write_bytes(b"weights" * 1000)
    assert model_hash(path) == short_hash(path) == hashlib.sha256(b"weights" * 1000).hexdigest()[:10]


def test_a_remembered_short_hash_spares_reading_the_file_until_it_changes(tmp_path, monkeypatch):
    from ldm_studio.engine import file_hashes

    path = tmp_path / "m.safetensors"
    path.write_bytes(b"weights")
    file_hashes.remember_short_hash(path, "0123456789")
    monkeypatch.setattr(file_hashes, "sha256_of_file", lambda p: pytest.fail("read the file again"))
    assert file_hashes.short_hash(path) == "0123456789"
    monkeypatch.undo()
    path.write_bytes(b"other weights")  # a new version of the file: the remembered hash no longer holds
    os.utime(path, ns=(1, 1))
    assert file_hashes.short_hash(path) == hashlib.sha256(b"other weights").hexdigest()[:10]
    file_hashes.remember_short_hash(tmp_path / "gone.safetensors", "0123456789")  # no such file: ignored
