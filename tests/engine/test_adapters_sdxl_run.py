"""LoRAs and embeddings prepared for a loaded SDXL model: CLIP-L is "te1", bigG "te2" (lora_te1_ / lora_te2_,
clip_l / clip_g); the set is undone bit for bit; an SD 1.x LoRA or embedding is refused naming both."""

from __future__ import annotations

import pytest
import torch

from ldm_studio.engine.checkpoints.loading import load_model
from ldm_studio.engine.errors import InputError
from ldm_studio.engine.pipelines.adapter_state import prepare_adapters, text_components
from ldm_studio.engine.requests import GenerationRequest
from tests.adapter_files import write_a1111_embedding, write_lora, write_sdxl_embedding
from tests.sdxl_checkpoints import write_tiny_sdxl_checkpoint

UNET = ["input_blocks.4.1.transformer_blocks.0.attn2.to_k", "input_blocks.4.1.proj_in", "out.2"]
TEXT = ["encoder.layers.0.self_attn.q_proj", "encoder.layers.1.mlp.fc1"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = write_tiny_sdxl_checkpoint(tmp_path_factory.mktemp("xl") / "xl.safetensors", "sdxl")
    return load_model(path, device="cpu", precision="fp32")


def _weights(model) -> dict[str, torch.Tensor]:
    nets = {"unet": model.unet} | text_components(model)
    return {f"{part}.{k}": v.clone() for part, net in nets.items() for k, v in net.state_dict().items()}


def test_te1_te2_and_unet_merged_and_undone(model, tmp_path):
    components = text_components(model)
    assert set(components) == {"te1", "te2"}
    shapes = {
        "lora_unet_" + m.replace(".", "_"): tuple(model.unet.get_parameter(m + ".weight").shape) for m in UNET
    }
    for component, encoder in components.items():
        shapes |= {
            f"lora_{component}_text_model_" + m.replace(".", "_"): tuple(
                encoder.get_parameter(f"transformer.{m}.weight").shape
            )
            for m in TEXT
        }
    lora = write_lora(
        tmp_path / "xl.safetensors", shapes, metadata={"ss_base_model_version": "sdxl_base_v1-0"}
    )
    before = _weights(model)
    prepared = prepare_adapters(model, GenerationRequest(loras=((str(lora), 0.7, 0.9),)))
    assert prepared.notes == [] and set(prepared.lora_hashes) == {"xl"}
    after = _weights(model)
    changed = {k.split(".", 1)[0] for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"unet", "te1", "te2"}
    prepare_adapters(model, GenerationRequest())
    restored = _weights(model)
    assert all(torch.equal(before[k], restored[k]) for k in before)


def test_sd1_lora_and_embedding_refused_naming_both(model, tmp_path):
    lora = write_lora(tmp_path / "old.safetensors", {"lora_unet_out_2": (4, 32, 3, 3)},
                      metadata={"ss_base_model_version": "sd_v1"})  # fmt: skip
    with pytest.raises(InputError, match=r"'old' is for SD 1\.x, the loaded model is SDXL"):
        prepare_adapters(model, GenerationRequest(loras=((str(lora), 1.0, 1.0),)))
    folder = tmp_path / "embeddings"
    folder.mkdir()
    write_a1111_embedding(folder / "sd1word.pt", torch.randn(2, 768))
    with pytest.raises(InputError, match="sd1word"):
        prepare_adapters(model, GenerationRequest(prompt="a sd1word", embeddings_dir=str(folder)))


def test_sdxl_embedding_puts_clip_l_and_clip_g_vectors_in_each_towers_slots(model, tmp_path):
    from ldm_studio.engine.pipelines.sdxl_conditioning import encode_sdxl_pair
    from tests.engine.test_adapters_embedding_prompts import _by_hand

    folder = tmp_path / "embeddings"
    folder.mkdir()
    towers = [(model.text_encoder, model.tokenizer), (model.text_encoder_2, model.tokenizer_2)]
    generator = torch.Generator().manual_seed(5)
    clip_l, clip_g = (torch.randn(2, e.config.hidden_size, generator=generator) for e, _ in towers)
    path = write_sdxl_embedding(folder / "xlword.safetensors", clip_l, clip_g)
    prompt = "a (xlword:1.2) cube"
    prepared = prepare_adapters(model, GenerationRequest(prompt=prompt, embeddings_dir=str(folder)))
    assert set(prepared.embeddings) == {"xlword"} and prepared.notes == [] and prepared.ti_hashes
    with torch.inference_mode():
        (cond, _), _ = encode_sdxl_pair(model, prompt, "", False, prepared.embeddings)
    expected = [
        _by_hand(encoder, tokenizer, [("a ", 1.0), (vectors, 1.2), (" cube", 1.0)])
        for (encoder, tokenizer), vectors in zip(towers, (clip_l, clip_g), strict=True)
    ]
    assert torch.allclose(cond, torch.cat(expected, dim=-1), atol=1e-5, rtol=0)
    assert path.exists()
