"""Hostile checkpoint files: each is one line saying the file is damaged or refused, never a traceback,
and one such file in the models folder does not hide the good ones."""

import os
import pickle
import struct

import pytest
import torch
from safetensors.torch import load_file, save_file

from ldm_studio.engine.checkpoints.files import read_checkpoint
from ldm_studio.engine.checkpoints.loading import load_model
from ldm_studio.engine.errors import CheckpointError
from ldm_studio.engine.model_scan import scan_models
from tests.checkpoints import write_tiny_checkpoint

ENTRY = '"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}'
HEADERS = {
    "5000-digit integer": '{"w": {"dtype": "F32", "shape": [' + "1" * 5000 + '], "data_offsets": [0, 4]}}',
    "nested 100000 deep": '{"a":' * 100_000 + "1" + "}" * 100_000,
    "list nested 100000 deep": '{"a":' + "[" * 100_000,
    "metadata a list": '{"__metadata__": [1, 2], ' + ENTRY + "}",
    "metadata a string": '{"__metadata__": "hello", ' + ENTRY + "}",
    "infinite dimension": '{"w": {"dtype": "F32", "shape": [1e999], "data_offsets": [0, 4]}}',
    "negative dimensions": '{"w": {"dtype": "F32", "shape": [-1, -1], "data_offsets": [0, 4]}}',
    "float dimension": '{"w": {"dtype": "F32", "shape": [0.5, 2], "data_offsets": [0, 4]}}',
    "boolean dimension": '{"w": {"dtype": "F32", "shape": [true], "data_offsets": [0, 4]}}',
    "negative offsets": '{"w": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}}',
    "NaN in header": '{"w": {"dtype": "F32", "shape": [NaN], "data_offsets": [0, 4]}}',
    "entry a list": '{"w": [1, 2]}',
}


def write_header(path, header: str, data: bytes = b"\0" * 4):
    raw = header.encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


@pytest.mark.parametrize("header", HEADERS.values(), ids=HEADERS.keys())
def test_a_hostile_safetensors_header_is_one_line_damaged(tmp_path, header):
    path = write_header(tmp_path / "bad.safetensors", header)
    with pytest.raises(CheckpointError, match="damaged") as caught:
        read_checkpoint(path)
    assert "\n" not in str(caught.value) and "bad.safetensors" in str(caught.value)


def test_integer_weights_are_damaged_not_a_load_state_dict_traceback(tmp_path):
    state = load_file(write_tiny_checkpoint(tmp_path / "ok.safetensors", "sd1"))
    key = "model.diffusion_model.input_blocks.0.0.weight"
    state[key] = state[key].to(torch.int32)
    save_file(state, tmp_path / "int.safetensors")
    with pytest.raises(CheckpointError, match="int32 numbers where floating-point weights belong"):
        load_model(tmp_path / "int.safetensors")


class _Code:
    def __reduce__(self):
        return (os.system, ("echo ran",))


@pytest.mark.parametrize("zipped", [True, False])
def test_a_ckpt_holding_code_says_so_and_runs_nothing(tmp_path, zipped):
    path = tmp_path / "evil.ckpt"
    if zipped:
        torch.save({"w": torch.zeros(1), "x": _Code()}, path)
    else:
        path.write_bytes(pickle.dumps({"x": _Code()}, protocol=2))
    with pytest.raises(CheckpointError, match=r"holds code \(the Python object \w+\.system\).*refused"):
        read_checkpoint(path)


def test_one_unreadable_file_does_not_hide_the_others(tmp_path):
    write_tiny_checkpoint(tmp_path / "good.safetensors", "sd1")
    write_header(tmp_path / "list-metadata.safetensors", HEADERS["metadata a list"])
    write_header(tmp_path / "deep.safetensors", HEADERS["nested 100000 deep"])
    entries = {entry.name: entry for entry in scan_models(tmp_path)}
    assert entries["good"].usable
    assert "__metadata__" in entries["list-metadata"].problem
    assert "nested too deeply" in entries["deep"].problem
