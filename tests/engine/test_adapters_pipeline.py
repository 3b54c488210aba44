"""LoRAs in generation, end to end: `<lora:NAME:M>` tags and `request.loras` merged into the loaded model.

Our txt2img with a LoRA equals diffusers' StableDiffusionPipeline after `load_lora_weights` + `fuse_lora`
on the same file (same tiny SD1 checkpoint, seed, sampler); two LoRAs at once; a request without LoRAs
gives the original weights back bit for bit; a changed weight equals a fresh merge; bad files and unknown
names fail in `run()` with one line, before anything is generated.
"""

from __future__ import annotations

import threading

import pytest
import torch

pytest.importorskip("diffusers")
pytest.importorskip("peft")

from ldm_studio.engine.checkpoints.loading import load_model
from ldm_studio.engine.errors import LdmError
from ldm_studio.engine.file_hashes import sha256_after_header
from ldm_studio.engine.metadata.a1111 import parse_hash_list, parse_infotext
from ldm_studio.engine.pipelines import run as our_pipeline
from ldm_studio.engine.requests import GenerationRequest, Result
from tests.adapter_files import write_lora, write_tensors
from tests.checkpoints import write_tiny_checkpoint
from tests.engine import diffusers_pipelines as ref
from tests.engine.test_pipeline_parity import assert_close, run_ours

PROMPT, NEGATIVE = "a red cube on a wooden table", "blurry, grey"
SEED, STEPS, CFG = 1234, 3, 7.0
UNET_MODULES = [
    "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q",
    "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k",
    "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_v",
    "down_blocks.0.attentions.0.proj_in",
    "down_blocks.0.resnets.0.conv1",
    "mid_block.attentions.0.transformer_blocks.0.ff.net.2",
    "up_blocks.1.resnets.0.conv2",
    "conv_in",
]
# diffusers' kohya converter reads a text layer's q, k, v and out LoRAs only together.
TEXT_MODULES = [f"encoder.layers.0.self_attn.{p}_proj" for p in ("q", "k", "v", "out")]
TEXT_MODULES.append("encoder.layers.1.mlp.fc1")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lora_run")
    path = write_tiny_checkpoint(folder / "sd1.safetensors", "sd1")
    components = ref.diffusers_components(path, "sd1")
    shapes = {
        "lora_unet_" + m.replace(".", "_"): tuple(components["unet"].get_submodule(m).weight.shape)
        for m in UNET_MODULES
    }
    shapes |= {
        "lora_te_text_model_" + m.replace(".", "_"): tuple(
            components["text_encoder"].get_submodule(m).weight.shape
        )
        for m in TEXT_MODULES
    }
    loras = folder / "loras"
    loras.mkdir()
    write_lora(loras / "style.safetensors", shapes, rank=4, alpha=2.0, seed=1)
    write_lora(loras / "second.safetensors", shapes, rank=2, alpha=None, seed=2)
    return {"checkpoint": path, "loras": loras}


def _model(setup):
    return load_model(setup["checkpoint"], device="cpu", precision="fp32")


def _request(setup, prompt=PROMPT, **changes) -> GenerationRequest:
    base = GenerationRequest(
        prompt=prompt,
        negative_prompt=NEGATIVE,
        seed=SEED,
        steps=STEPS,
        cfg_scale=CFG,
        width=64,
        height=64,
        preview_interval=0,
        lora_dir=str(setup["loras"]),
    )
    return base.replace(**changes)


def _weights(model) -> dict[str, torch.Tensor]:
    return {
        f"{part}.{k}": v.clone()
        for part, net in (("unet", model.unet), ("text", model.text_encoder))
        for k, v in net.state_dict().items()
    }


def _reference(setup, fused: list[tuple[str, float]]) -> torch.Tensor:
    components = ref.diffusers_components(setup["checkpoint"], "sd1")
    pipe = ref.txt2img_pipeline(components, ref.sd_scheduler("euler"))
    for name, scale in fused:
        pipe.load_lora_weights(str(setup["loras"] / f"{name}.safetensors"), adapter_name=name)
        pipe.fuse_lora(lora_scale=scale, adapter_names=[name])
        pipe.unload_lora_weights()
    return ref.run_reference(
        pipe,
        SEED,
        prompt=PROMPT,
        negative_prompt=NEGATIVE,
        num_inference_steps=STEPS,
        guidance_scale=CFG,
        height=64,
        width=64,
    )


def test_lora_tag_matches_diffusers_fuse_lora(setup, monkeypatch):
    model = _model(setup)
    result, ours = run_ours(model, _request(setup, PROMPT + " <lora:style:0.8>"), monkeypatch)
    theirs = _reference(setup, [("style", 0.8)])
    assert_close(ours, theirs)
    # The LoRA changed the picture: the same run without it is far from it.
    plain = _reference(setup, [])
    assert float((plain - theirs).abs().max()) > 20 * 2e-3
    infotext = parse_infotext(result.infotexts[0])
    assert "<lora:style:0.8>" in infotext["Prompt"]
    digest = sha256_after_header(setup["loras"] / "style.safetensors")[:12]
    assert parse_hash_list(infotext["Lora hashes"]) == {"style": digest}
    assert result.notes == []


def test_two_loras_at_once_match_diffusers(setup, monkeypatch):
    model = _model(setup)
    explicit = ((str(setup["loras"] / "second.safetensors"), 0.6, 0.6),)
    request = _request(setup, PROMPT + " <lora:style:0.8>", loras=explicit)
    _, ours = run_ours(model, request, monkeypatch)
    assert_close(ours, _reference(setup, [("style", 0.8), ("second", 0.6)]))


def test_no_loras_after_a_run_restores_original_weights_bit_for_bit(setup, monkeypatch):
    model = _model(setup)
    before = _weights(model)
    _, plain = run_ours(model, _request(setup), monkeypatch)
    run_ours(model, _request(setup, "<lora:style:1:0.5> " + PROMPT), monkeypatch)
    assert any(not torch.equal(before[k], v) for k, v in _weights(model).items())
    _, again = run_ours(model, _request(setup), monkeypatch)
    after = _weights(model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert torch.equal(plain, again)  # the prompt cache was dropped with the text encoder's LoRA


def test_changed_weight_equals_a_fresh_merge(setup, monkeypatch):
    model = _model(setup)
    run_ours(model, _request(setup, PROMPT + " <lora:style:0.3>"), monkeypatch)
    _, changed = run_ours(model, _request(setup, PROMPT + " <lora:style:0.9>"), monkeypatch)
    fresh = _model(setup)
    _, direct = run_ours(fresh, _request(setup, PROMPT + " <lora:style:0.9>"), monkeypatch)
    weights, fresh_weights = _weights(model), _weights(fresh)
    assert all(torch.equal(weights[k], fresh_weights[k]) for k in weights)
    assert torch.equal(changed, direct)


def test_modules_not_found_are_reported_in_the_result(setup, monkeypatch, tmp_path):
    shapes = {
        "lora_unet_down_blocks_0_attentions_0_proj_in": (32, 32, 1, 1),
        "lora_unet_no_such_layer": (8, 8),
    }
    lora = write_lora(tmp_path / "partial.safetensors", shapes)
    request = _request(setup, PROMPT + " <lora:partial:1>", lora_dir=str(tmp_path))
    result, _ = run_ours(_model(setup), request, monkeypatch)
    assert lora.exists()
    assert len(result.notes) == 1 and "1 of 2 modules not found" in result.notes[0]


def _bad_files(folder, setup):
    shapes = {"lora_unet_conv_in": (32, 4, 3, 3)}
    write_tiny_checkpoint(folder / "checkpoint.safetensors", "sd1")
    good = write_lora(folder / "good.safetensors", shapes)
    (folder / "truncated.safetensors").write_bytes(good.read_bytes()[:-40])
    tensors = {"lora_unet_conv_in.lora_down.weight": torch.full((4, 4, 3, 3), float("nan")),
               "lora_unet_conv_in.lora_up.weight": torch.ones(32, 4, 1, 1)}  # fmt: skip
    write_tensors(folder / "nan.safetensors", tensors)
    write_lora(folder / "sd2.safetensors", shapes, metadata={"ss_base_model_version": "sd_v2"})
    torch.save({"lora_unet_conv_in.alpha": threading.Lock}, folder / "pickled.pt")


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("missing", ["'missing'", "not found in"]),
        ("checkpoint", ["checkpoint.safetensors", "checkpoint, not a LoRA"]),
        ("truncated", ["truncated.safetensors", "damaged or truncated"]),
        ("nan", ["nan.safetensors", "NaN"]),
        ("sd2", ["'sd2'", "SD 2.x", "SD 1.x"]),
        ("pickled", ["pickled.pt", "needs code to unpickle"]),
    ],
)
def test_bad_lora_is_one_line_before_any_work(setup, tmp_path, name, words):
    _bad_files(tmp_path, setup)
    model = _model(setup)
    before = _weights(model)
    request = _request(setup, f"{PROMPT} <lora:{name}:1>", lora_dir=str(tmp_path))
    with pytest.raises(LdmError) as caught:
        our_pipeline.run(model, request, threading.Event())
    message = str(caught.value)
    assert "\n" not in message and all(word in message for word in words), message
    if name == "missing":
        assert str(tmp_path) in message
    after = _weights(model)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_no_adapter_run_is_unchanged(setup, monkeypatch):
    """No LoRA, no embeddings folder: the image is the one the plain pipeline makes (bit for bit)."""
    model = _model(setup)
    request = _request(setup, lora_dir=None)
    result, ours = run_ours(model, request, monkeypatch)
    assert isinstance(result, Result) and "Lora hashes" not in result.infotexts[0]
    _, with_folder = run_ours(model, _request(setup), monkeypatch)
    assert torch.equal(ours, with_folder)
