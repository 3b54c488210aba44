"""Telling the family of a checkpoint file: shapes, a YAML beside it, its metadata, the user's override."""

import hashlib
import sys
import types

import pytest
import torch

from ldm_studio.engine.checkpoints.demo_models import demo_model_path
from ldm_studio.engine.checkpoints.inspection import inspect_checkpoint
from ldm_studio.info import describe_checkpoint
from tests.checkpoints import FAMILY_NAMES, tiny_family, write_tiny_checkpoint


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One tiny safetensors file per family, written once for the module."""
    folder = tmp_path_factory.mktemp("families")
    return {name: write_tiny_checkpoint(folder / f"{name}.safetensors", name) for name in FAMILY_NAMES}


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_every_family_is_told_from_its_file(files, name):
    info = inspect_checkpoint(files[name])
    assert info.family == tiny_family(name).name
    assert info.config == tiny_family(name)  # every width read back as written
    assert info.format == "safetensors"


def test_sd2_eps_and_v_are_told_apart_by_the_weights_and_flagged_as_a_guess(files):
    eps, v = inspect_checkpoint(files["sd2"]), inspect_checkpoint(files["sd2-v"])
    assert (eps.prediction, v.prediction) == ("eps", "v")
    assert eps.prediction_source == v.prediction_source == "guessed"
    assert "guessed" in describe_checkpoint(files["sd2-v"])


@pytest.mark.parametrize(
    ("name", "dtype"),
    [
        ("sd1", torch.float16),
        ("sd2-inpaint", torch.float32),
        ("ldm-bsr", torch.float32),
        ("sd2-v", torch.bfloat16),
    ],
)
def test_ckpt_files_are_told_apart_too(tmp_path, name, dtype):
    path = write_tiny_checkpoint(tmp_path / f"{name}.ckpt", name, fmt="ckpt", dtype=dtype)
    info = inspect_checkpoint(path)
    assert (info.family, info.format) == (name, "torch")
    assert (
        info.dtypes["unet"] == {torch.float16: "fp16", torch.float32: "fp32", torch.bfloat16: "bf16"}[dtype]
    )


def test_half_precision_safetensors_report_their_dtype(tmp_path):
    info = inspect_checkpoint(
        write_tiny_checkpoint(tmp_path / "half.safetensors", "sd1", dtype=torch.float16)
    )
    assert info.family == "sd1"
    assert info.dtypes == {"unet": "fp16", "vae": "fp16", "text": "fp16"}


def test_parameter_counts_per_part_match_the_nets(files):
    from ldm_studio.engine.nets.unet import UNetModel

    info = inspect_checkpoint(files["sd1"])
    with torch.device("meta"):
        expected = sum(p.numel() for p in UNetModel(tiny_family("sd1").unet).parameters())
    assert info.parameters["unet"] == expected
    assert set(info.parameters) == {"unet", "vae", "text"}
    assert "text" not in inspect_checkpoint(files["ldm-inpaint"]).parameters  # its cond stage is its VAE


def test_the_metadata_config_names_the_family(tmp_path):
    path = write_tiny_checkpoint(
        tmp_path / "sd2.safetensors", "sd2", config={"family": "sd2-v", "label": "Mine"}
    )
    info = inspect_checkpoint(path)
    assert (info.family, info.prediction, info.config.label) == ("sd2-v", "v", "Mine")
    assert (info.config_source, info.prediction_source) == ("metadata", "metadata")


def test_a_model_no_shape_rule_knows_is_described_by_its_metadata(files):
    info = inspect_checkpoint(files["demo"])
    assert info.config == tiny_family("demo")
    assert info.config_source == "metadata"
    assert "Demo (tiny test model)" in describe_checkpoint(files["demo"])


V_YAML = """
model:
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
    parameterization: "v"
    linear_start: 0.00085
    linear_end: 0.0120
    timesteps: 1000
    conditioning_key: crossattn
    scale_factor: 0.18215
    cond_stage_config:
      target: ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder
      params:
        layer: "penultimate"
"""


def test_a_yaml_beside_the_file_decides_eps_or_v(tmp_path):
    path = write_tiny_checkpoint(tmp_path / "model.safetensors", "sd2")  # its weights look eps
    (tmp_path / "model.yaml").write_text(V_YAML)
    info = inspect_checkpoint(path)
    assert (info.family, info.prediction) == ("sd2-v", "v")
    assert (info.config_source, info.prediction_source) == ("yaml", "yaml")
    # A YAML without `parameterization` means eps, as in the original code, whatever the weights look like.
    v_path = write_tiny_checkpoint(tmp_path / "v.ckpt", "sd2-v", fmt="ckpt")
    (tmp_path / "v.yaml").write_text(V_YAML.replace('parameterization: "v"', ""))
    assert inspect_checkpoint(v_path).prediction == "eps"
    # CompVis' third parameterization: the UNet predicts the clean latent.
    (tmp_path / "v.yaml").write_text(V_YAML.replace('parameterization: "v"', 'parameterization: "x0"'))
    assert inspect_checkpoint(v_path).prediction == "x0"


def test_the_yaml_unet_config_is_used_as_written(tmp_path):
    path = write_tiny_checkpoint(tmp_path / "m.safetensors", "sd1")
    unet = tiny_family("sd1").unet
    (tmp_path / "m.yaml").write_text(
        V_YAML.replace('parameterization: "v"', "unet_config:\n      params:\n"
        f"        in_channels: 4\n        model_channels: {unet.model_channels}\n"
        f"        channel_mult: [1, 2]\n        num_res_blocks: 1\n        attention_resolutions: [1]\n"
        f"        num_heads: 2\n        use_spatial_transformer: true\n        context_dim: 32\n")
    )  # fmt: skip
    info = inspect_checkpoint(path)
    assert (info.config.unet.num_heads, info.config.unet.num_head_channels) == (2, -1)
    assert info.prediction == "eps"


def test_the_users_prediction_always_wins(files):
    assert inspect_checkpoint(files["sd1"], prediction="v").prediction == "v"
    overridden = inspect_checkpoint(files["sd2-v"], prediction="eps")
    assert (overridden.family, overridden.prediction, overridden.prediction_source) == (
        "sd2",
        "eps",
        "override",
    )
    assert inspect_checkpoint(files["demo"], prediction="v").prediction == "v"


def test_ema_copies_are_reported_and_do_not_change_the_family(tmp_path):
    path = write_tiny_checkpoint(tmp_path / "ema.ckpt", "sd1", fmt="ckpt", with_ema=True)
    info = inspect_checkpoint(path)
    assert info.family == "sd1" and info.has_ema
    assert (
        info.parameters["unet"]
        == inspect_checkpoint(write_tiny_checkpoint(tmp_path / "plain.ckpt", "sd1", fmt="ckpt")).parameters[
            "unet"
        ]
    )


def test_lightning_training_state_in_an_original_ckpt_is_skipped_safely(tmp_path, monkeypatch):
    # Original SD 1.x .ckpt files pickle PyTorch Lightning's ModelCheckpoint class next to the weights.
    name = "pytorch_lightning.callbacks.model_checkpoint"
    module = types.ModuleType(name)
    ModelCheckpoint = type("ModelCheckpoint", (), {"__module__": name})
    module.ModelCheckpoint = ModelCheckpoint
    for part in ("pytorch_lightning", "pytorch_lightning.callbacks", name):
        monkeypatch.setitem(sys.modules, part, module)
    from tests.checkpoints import tiny_state_dict

    path = tmp_path / "lightning.ckpt"
    callbacks = {ModelCheckpoint: {"best_model_score": torch.tensor(0.1), "dirpath": "/logs"}}
    torch.save({"state_dict": tiny_state_dict("sd1"), "callbacks": callbacks, "global_step": 1}, path)
    monkeypatch.undo()  # loading must not need the class
    assert inspect_checkpoint(path).family == "sd1"


def test_describe_names_the_family_prediction_sizes_and_the_a1111_hash(files):
    path = files["sd1"]
    text = describe_checkpoint(path)
    expected_hash = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
    assert text.splitlines()[0] == path.name
    for words in ("sd1", "Stable Diffusion 1.x", "eps", "txt2img, img2img, inpaint", "fp32", expected_hash):
        assert words in text
    assert "M parameters" in text


def test_info_gives_the_guidance_scale_the_model_draws_best_at(files):
    assert "guidance:     CFG 7\n" in describe_checkpoint(files["sd1"])
    assert "guidance:     CFG 3\n" in describe_checkpoint(demo_model_path("txt2img"))
    assert "guidance:     none (no text encoder)\n" in describe_checkpoint(demo_model_path("upscale"))
