"""Loading a checkpoint: real weights from the file in every net, the right dtype, a separate VAE."""

import copy
import hashlib
from itertools import chain

import pytest
import torch

from ldm_studio.engine.checkpoints.files import open_checkpoint
from ldm_studio.engine.checkpoints.loading import load_model
from ldm_studio.engine.errors import CheckpointError, LdmError
from ldm_studio.engine.nets.text import text_state_dict_from_checkpoint
from ldm_studio.engine.runtime.devices import choose_device, choose_dtype
from tests.checkpoints import tiny_family, tiny_state_dict, write_tiny_checkpoint, write_tiny_vae


@pytest.fixture(scope="module")
def sd1_file(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("load") / "tiny-sd1.safetensors", "sd1")


def _part(sd, prefix):
    return {k.removeprefix(prefix): v for k, v in sd.items() if k.startswith(prefix)}


def _assert_weights_equal(net, expected):
    actual = net.state_dict()
    assert set(actual) == set(expected)
    for key, tensor in expected.items():
        assert torch.equal(actual[key].float(), tensor.float()), key


def test_every_net_holds_the_files_weights_and_nothing_is_left_on_meta(sd1_file):
    model = load_model(sd1_file, device="cpu")
    nets = (model.unet, model.vae, model.text_encoder)
    assert not any(t.is_meta for net in nets for t in chain(net.parameters(), net.buffers()))
    sd = tiny_state_dict("sd1")
    _assert_weights_equal(model.unet, _part(sd, "model.diffusion_model."))
    _assert_weights_equal(model.vae, _part(sd, "first_stage_model."))
    text = text_state_dict_from_checkpoint(_part(sd, "cond_stage_model."), model.config.text)
    _assert_weights_equal(model.text_encoder, text)
    assert not any(p.requires_grad for p in model.unet.parameters())


def test_the_loaded_model_says_what_it_is(sd1_file):
    model = load_model(sd1_file, device="cpu")
    assert (model.family, model.name, model.prediction) == ("sd1", "tiny-sd1", "eps")
    assert model.config == tiny_family("sd1")
    assert model.short_hash() == hashlib.sha256(sd1_file.read_bytes()).hexdigest()[:10]
    assert (model.device.type, model.dtype) == ("cpu", torch.float32)
    assert model.tokenizer.encode("a cat")[-1] == 49407  # SD 1.x pads with EOS


def test_the_loaded_unet_runs(sd1_file):
    model = load_model(sd1_file, device="cpu")
    context = model.text_encoder(torch.tensor([model.tokenizer.encode("a red cube")]))
    out = model.unet(torch.randn(1, 4, 8, 8), torch.tensor([500.0]), context=context)
    assert out.shape == (1, 4, 8, 8) and torch.isfinite(out).all()


def test_a_half_precision_file_is_upcast_on_cpu_unless_fp16_is_asked(tmp_path):
    path = write_tiny_checkpoint(tmp_path / "half.safetensors", "sd2-v", dtype=torch.float16)
    assert next(load_model(path, device="cpu").unet.parameters()).dtype == torch.float32
    half = load_model(path, device="cpu", precision="fp16")
    assert half.dtype == torch.float16
    assert {p.dtype for p in chain(half.unet.parameters(), half.vae.parameters())} == {torch.float16}
    assert half.tokenizer.encode("a cat")[-1] == 0  # SD 2.x pads with 0


@pytest.mark.parametrize("family", ["sd1", "sd2-v"])
def test_a_half_files_token_table_stays_half_in_memory_and_encodes_exactly_as_float32(tmp_path, family):
    path = write_tiny_checkpoint(tmp_path / "half.safetensors", family, dtype=torch.float16)
    model = load_model(path, device="cpu")
    table = model.text_encoder.transformer.embeddings.token_embedding.weight
    others = {p.dtype for p in model.text_encoder.parameters() if p is not table}
    assert (table.dtype, others) == (torch.float16, {torch.float32})
    with open_checkpoint(path) as reader:  # a copy, not the file's mapping: the file may be replaced
        key = next(k for k in reader.tensors if k.endswith("token_embedding.weight"))
        mapped = reader.tensor(key)
        assert torch.equal(mapped, table)
        assert table.untyped_storage().data_ptr() != mapped.untyped_storage().data_ptr()
    upcast = copy.deepcopy(model.text_encoder).float()
    tokens = torch.tensor([model.tokenizer.encode("a red cube on a table")])
    with torch.inference_mode():
        context = model.text_encoder(tokens)
        assert context.dtype == torch.float32
        assert torch.equal(context, upcast(tokens))


@pytest.mark.parametrize("name", ["sd-x4-upscaler", "ldm-inpaint"])
def test_ckpt_files_of_other_families_load(tmp_path, name):
    path = write_tiny_checkpoint(tmp_path / f"{name}.ckpt", name, fmt="ckpt")
    model = load_model(path, device="cpu")
    assert model.family == name
    _assert_weights_equal(model.unet, _part(tiny_state_dict(name), "model.diffusion_model."))
    assert (model.text_encoder is None) == (name == "ldm-inpaint")


def test_ema_copies_are_not_the_weights_used(tmp_path):
    path = write_tiny_checkpoint(tmp_path / "ema.ckpt", "sd1", fmt="ckpt", with_ema=True)
    model = load_model(path, device="cpu")
    _assert_weights_equal(model.unet, _part(tiny_state_dict("sd1"), "model.diffusion_model."))


@pytest.mark.parametrize(("prefix", "fmt"), [(False, "safetensors"), (True, "ckpt")])
def test_a_separate_vae_file_replaces_the_checkpoints_vae(sd1_file, tmp_path, prefix, fmt):
    vae_path = write_tiny_vae(tmp_path / f"vae.{fmt}", "sd1", seed=7, prefix=prefix, fmt=fmt)
    model = load_model(sd1_file, device="cpu", vae=vae_path)
    _assert_weights_equal(model.vae, _part(tiny_state_dict("sd1", seed=7), "first_stage_model."))
    assert model.vae_path == vae_path
    assert model.config.vae.scale_factor == 0.18215  # the model's latent scale, not the VAE file's
    original = _part(tiny_state_dict("sd1"), "first_stage_model.")["encoder.conv_in.weight"]
    assert not torch.equal(model.vae.state_dict()["encoder.conv_in.weight"], original)


def test_a_vae_that_does_not_fit_the_model_is_refused_with_both_named(sd1_file, tmp_path):
    vae_path = write_tiny_vae(tmp_path / "x4-vae.safetensors", "sd-x4-upscaler")
    with pytest.raises(CheckpointError) as caught:
        load_model(sd1_file, device="cpu", vae=vae_path)
    message = str(caught.value)
    assert "x4-vae.safetensors does not fit tiny-sd1.safetensors" in message
    assert "1/4" in message and "1/8" in message and "\n" not in message


def test_device_and_precision_choice():
    cpu = torch.device("cpu")
    if not torch.cuda.is_available():
        assert choose_device("auto").type in ("cpu", "mps")
        with pytest.raises(LdmError, match="CUDA is not available"):
            choose_device("cuda")
    assert choose_dtype(cpu) == torch.float32  # CPUs stay fp32 unless asked
    assert choose_dtype(torch.device("cuda")) == torch.float16  # GPUs default to half precision
    assert choose_dtype(cpu, "bf16") == torch.bfloat16
    with pytest.raises(LdmError, match="auto, fp32, fp16, bf16"):
        choose_dtype(cpu, "fp8")
    with pytest.raises(LdmError, match="unknown device"):
        choose_device("tpu0")
