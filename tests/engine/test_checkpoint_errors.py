"""Files that cannot be used: each gets one line that names the file and says what is wrong."""

import json
import struct

import pytest
import torch

from ldm_studio.engine.checkpoints.inspection import inspect_checkpoint
from ldm_studio.engine.checkpoints.loading import load_model
from ldm_studio.engine.errors import CheckpointError
from tests.checkpoints import tiny_state_dict, write_tiny_checkpoint


class Payload:
    """Stands for anything a pickle could run on loading."""


@pytest.fixture(scope="module")
def sd1_bytes(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("bad") / "good.safetensors", "sd1").read_bytes()


def _error(path, load=False) -> str:
    with pytest.raises(CheckpointError) as caught:
        load_model(path, device="cpu") if load else inspect_checkpoint(path)
    message = str(caught.value)
    assert "\n" not in message, message
    assert path.name in message, message
    return message


def test_a_truncated_download_says_so(tmp_path, sd1_bytes):
    path = tmp_path / "cut.safetensors"
    path.write_bytes(sd1_bytes[: len(sd1_bytes) // 2])
    assert "truncated" in _error(path)
    (tmp_path / "cut-header.safetensors").write_bytes(sd1_bytes[:100])
    assert "truncated" in _error(tmp_path / "cut-header.safetensors")


def test_a_damaged_header_says_so(tmp_path, sd1_bytes):
    path = tmp_path / "damaged.safetensors"
    (n,) = struct.unpack("<Q", sd1_bytes[:8])
    path.write_bytes(sd1_bytes[:8] + b"{" + b"\x00" * (n - 1) + sd1_bytes[8 + n :])
    assert "damaged" in _error(path)


def test_an_image_renamed_to_safetensors_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "photo.safetensors"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    message = _error(path)
    assert "not a checkpoint" in message and "PNG image" in message


def test_an_html_error_page_saved_as_a_model_is_recognised(tmp_path):
    path = tmp_path / "model.ckpt"
    path.write_text("<!DOCTYPE html><html><body>Access denied</body></html>")
    assert "HTML page" in _error(path)


def test_a_pickle_without_tensors_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "numbers.pt"
    torch.save({"a": 1, "b": 2}, path)
    assert "holds no tensors" in _error(path)


def test_a_ckpt_that_needs_unsafe_unpickling_is_refused_and_not_run(tmp_path):
    path = tmp_path / "sneaky.ckpt"
    torch.save({"state_dict": tiny_state_dict("sd1"), "extra": Payload()}, path)
    message = _error(path)
    assert "unsafe unpickling" in message and "Payload" in message and "safetensors" in message


def test_a_damaged_ckpt_says_so(tmp_path):
    path = tmp_path / "broken.ckpt"
    torch.save({"state_dict": {"w": torch.ones(1000)}}, path)
    path.write_bytes(path.read_bytes()[:300])
    assert "damaged" in _error(path)


def test_an_unknown_family_lists_what_was_found_and_what_was_expected(tmp_path):
    sd = tiny_state_dict("sd1")
    first = "model.diffusion_model.input_blocks.0.0.weight"
    sd[first] = torch.zeros(32, 5, 3, 3)
    path = tmp_path / "odd.safetensors"
    from safetensors.torch import save_file

    save_file(sd, str(path))
    message = _error(path)
    assert "unknown model family" in message
    assert "input_blocks.0.0.weight [32, 5, 3, 3]" in message and "CLIP" in message
    assert "expected one of" in message and "sd2-inpaint" in message


def test_a_vae_on_its_own_is_not_mistaken_for_a_model(tmp_path):
    from safetensors.torch import save_file

    sd = {
        k.removeprefix("first_stage_model."): v
        for k, v in tiny_state_dict("sd1").items()
        if "first_stage" in k
    }
    path = tmp_path / "vae-ft-mse.safetensors"
    save_file(sd, str(path))
    message = _error(path)
    assert "no UNet weights" in message and "choose it as the VAE" in message


def test_weights_that_do_not_fit_the_stated_config_say_which(tmp_path):
    config = {"unet": {"model_channels": 64}}
    path = write_tiny_checkpoint(tmp_path / "lying.safetensors", "sd1", config=config)
    message = _error(path, load=True)
    assert "UNet weights do not fit" in message and "wrong shape" in message


def test_a_bad_metadata_config_is_named(tmp_path):
    path = write_tiny_checkpoint(tmp_path / "typo.safetensors", "sd1", config={"predicton": "v"})
    assert "predicton" in _error(path)
    path = tmp_path / "notjson.safetensors"
    from safetensors.torch import save_file

    save_file(tiny_state_dict("sd1"), str(path), metadata={"ldm_studio_config": "{oops"})
    assert "not a JSON object" in _error(path)


def test_a_missing_file_is_named(tmp_path):
    message = _error(tmp_path / "nowhere.safetensors")
    assert "no such file" in message


def test_an_unknown_prediction_override_is_refused(tmp_path, sd1_bytes):
    path = tmp_path / "m.safetensors"
    path.write_bytes(sd1_bytes)
    with pytest.raises(CheckpointError, match="eps, v, x0"):
        inspect_checkpoint(path, prediction="sample")


def test_the_header_is_checked_against_the_tensor_sizes(tmp_path, sd1_bytes):
    (n,) = struct.unpack("<Q", sd1_bytes[:8])
    header = json.loads(sd1_bytes[8 : 8 + n])
    name = next(k for k in header if k != "__metadata__")
    header[name]["shape"] = [*header[name]["shape"], 2]  # claims twice the bytes it has
    raw = json.dumps(header).encode().ljust(n)
    path = tmp_path / "inconsistent.safetensors"
    path.write_bytes(
        sd1_bytes[:8].replace(sd1_bytes[:8], struct.pack("<Q", len(raw))) + raw + sd1_bytes[8 + n :]
    )
    assert "damaged" in _error(path)


def test_tensors_of_odd_rank_give_an_error_not_a_crash(tmp_path):
    from safetensors.torch import save_file

    sd = tiny_state_dict("sd1")
    sd["model.diffusion_model.input_blocks.0.0.weight"] = torch.zeros(7)
    path = tmp_path / "odd-rank.safetensors"
    save_file(sd, str(path))
    assert "unexpected tensor shapes" in _error(path)


def test_a_vae_file_that_is_no_vae_is_named(tmp_path, sd1_bytes):
    model = tmp_path / "model.safetensors"
    model.write_bytes(sd1_bytes)
    not_vae = tmp_path / "notes.pt"
    torch.save({"weights": torch.ones(3)}, not_vae)
    with pytest.raises(CheckpointError, match=r"notes\.pt is not a VAE"):
        load_model(model, device="cpu", vae=not_vae)
