"""Training runs are reproducible from a seed and a resumed run equals one that never stopped."""

from safetensors.torch import load_file

from ldm_studio.training import train_autoencoder
from ldm_studio.training.common import LOSSES

ARGS = ["--steps", "3", "--batch", "2", "--crop", "16", "--save-every", "10"]


def _weights(folder):
    return load_file(str(folder / train_autoencoder.WEIGHTS))


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, monkeypatch):
    monkeypatch.setattr(train_autoencoder, "HIGH_RES_POOL", 4)  # rendering 512² images is the slow part
    whole, split = tmp_path / "whole", tmp_path / "split"
    train_autoencoder.main(["--out", str(whole), *ARGS])
    train_autoencoder.main(["--out", str(split), *ARGS, "--until", "2"])
    interrupted = _weights(split)
    train_autoencoder.main(["--out", str(split), *ARGS, "--resume"])
    expected, resumed = _weights(whole), _weights(split)
    assert any(not (interrupted[k] == expected[k]).all() for k in expected)  # step 3 did change something
    assert all((resumed[k] == expected[k]).all() for k in expected)
    # The loss log has one row per step, none repeated by the resume.
    rows = (split / LOSSES).read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == [0, 1, 2]
