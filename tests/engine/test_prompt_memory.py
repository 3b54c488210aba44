"""Generate again with the same prompt: the text encoder is not run again, and nothing stale comes back."""

from types import SimpleNamespace

import pytest
import torch

from ldm_studio.engine.nets.configs import TextEncoderConfig
from ldm_studio.engine.nets.text import TextEncoder
from ldm_studio.engine.pipelines import conditioning as cond
from ldm_studio.engine.pipelines.tokenizer import load_tokenizer

TINY = TextEncoderConfig(hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64)


@pytest.fixture
def model():
    torch.manual_seed(0)
    encoder = TextEncoder(TINY).eval()
    calls = []
    encoder.register_forward_hook(lambda *_: calls.append(1))
    return SimpleNamespace(text_encoder=encoder, tokenizer=load_tokenizer(pad_token_id=49407), calls=calls)


def test_the_same_prompt_again_skips_the_encoder_and_gives_the_same_contexts(model):
    with torch.inference_mode():
        first = cond.text_contexts(model, "a red circle", "blurry", 1)
        encoded = len(model.calls)
        again = cond.text_contexts(model, "a red circle", "blurry", 2)
        assert len(model.calls) == encoded and encoded > 0
        assert torch.equal(again[0][1], first[0][0]) and torch.equal(again[1][0], first[1][0])
        cond.text_contexts(model, "a blue circle", "blurry", 1)  # another prompt is encoded
        assert len(model.calls) > encoded


def test_after_the_weights_change_or_outside_inference_mode_the_encoder_runs(model):
    with torch.inference_mode():
        before = cond.text_contexts(model, "a red circle", "", 1)
    encoded = len(model.calls)
    with torch.no_grad():
        model.text_encoder.double()  # another dtype: another entry (and back exactly)
        cond.text_contexts(model, "a red circle", "", 1)
        model.text_encoder.float()
    assert len(model.calls) > encoded
    encoded = len(model.calls)
    with torch.inference_mode():
        cond.forget_prompts()
        after = cond.text_contexts(model, "a red circle", "", 1)
    assert len(model.calls) > encoded and torch.equal(after[0], before[0])
