"""`ldm-studio info FILE`: what a user sees for a good checkpoint and for a bad one."""

import hashlib
import subprocess
import sys

from tests.checkpoints import write_tiny_checkpoint


def _info(path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ldm_studio", "info", str(path)], capture_output=True, text=True
    )


def test_info_prints_family_prediction_and_hash(tmp_path):
    path = write_tiny_checkpoint(tmp_path / "tiny-x4.safetensors", "sd-x4-upscaler")
    done = _info(path)
    assert done.returncode == 0, done.stderr
    assert "sd-x4-upscaler" in done.stdout and "prediction:   v" in done.stdout
    assert hashlib.sha256(path.read_bytes()).hexdigest()[:10] in done.stdout
    assert "Traceback" not in done.stderr


def test_info_on_a_bad_file_prints_one_line_and_exits_2(tmp_path):
    path = tmp_path / "half.safetensors"
    path.write_bytes(write_tiny_checkpoint(tmp_path / "whole.safetensors", "sd1").read_bytes()[:5000])
    done = _info(path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "half.safetensors is truncated" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
