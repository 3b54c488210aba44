"""The text pretraining that stands in for CLIP's: afterwards a caption's attributes can be read off the
mean of its context, for (shape, colour, background) combinations the encoder never saw."""

import numpy as np
import torch

from ldm_studio.engine.nets.configs import TextEncoderConfig
from ldm_studio.engine.nets.text import TextEncoder
from ldm_studio.engine.pipelines.tokenizer import load_tokenizer
from ldm_studio.training.dataset import random_scene
from ldm_studio.training.text_alignment import AttributeHead, attribute_accuracy, pretrain_text_encoder

TINY = TextEncoderConfig(
    kind="clip", hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, pad_token_id=49407
)


def test_pretraining_makes_held_out_captions_readable_from_the_mean_context():
    torch.manual_seed(0)
    text, head = TextEncoder(TINY), AttributeHead(TINY.hidden_size)
    tokenizer = load_tokenizer(TINY.pad_token_id)

    def tokens(texts: list[str]) -> torch.Tensor:
        return torch.tensor([tokenizer.encode(t) for t in texts])

    held_out = [random_scene(np.random.default_rng([9, i]), "heldout") for i in range(48)]
    before = attribute_accuracy(text, head, tokens, held_out)
    pretrain_text_encoder(text, head, tokens, steps=80, seed=0, batch=32, lr=3e-3, log=lambda line: None)
    after = attribute_accuracy(text, head, tokens, held_out)
    assert after["colour"] >= 0.6 and after["shape"] >= 0.6, after  # chance: 1/8 and 1/3
    assert after["colour"] > before["colour"] + 0.3, (before, after)


def test_dropped_captions_do_not_count():
    head = AttributeHead(8)
    context = torch.randn(3, 77, 8)
    scene = random_scene(np.random.default_rng(0))
    assert float(head.loss(context, [None, None, None])) == 0.0
    one = head.loss(context[1:2], [scene])
    assert torch.allclose(head.loss(context, [None, scene, None]), one)
