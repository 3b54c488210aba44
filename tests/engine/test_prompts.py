"""Prompt syntax, chunking and emphasis as A1111 users expect them, on a tiny random text encoder."""

import pytest
import torch

from ldm_studio.engine.nets.configs import TextEncoderConfig
from ldm_studio.engine.nets.text import TextEncoder
from ldm_studio.engine.pipelines.prompts import BREAK, encode_prompt_pair, parse_emphasis, prompt_chunks
from ldm_studio.engine.pipelines.tokenizer import load_tokenizer

BOS, EOS = 49406, 49407
TINY = TextEncoderConfig(hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(pad_token_id=EOS)


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return TextEncoder(TINY).eval()


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a cat", [("a cat", 1.0)]),
        ("a (cat) b", [("a ", 1.0), ("cat", 1.1), (" b", 1.0)]),
        ("(cat:1.5)", [("cat", 1.5)]),
        ("[cat]", [("cat", 1 / 1.1)]),
        ("((cat))", [("cat", 1.1 * 1.1)]),
        ("(a [b] c:2)", [("a ", 2.0), ("b", 2 / 1.1), (" c", 2.0)]),
        (r"\(cat\) \[dog\]", [("(cat) [dog]", 1.0)]),
        ("(unclosed", [("unclosed", 1.1)]),
        ("ratio 16:9) x]", [("ratio 16:9) x]", 1.0)]),
        ("a BREAK b", [("a", 1.0), BREAK, ("b", 1.0)]),
        ("(a BREAK b:1.2)", [("a", 1.2), BREAK, ("b", 1.2)]),
        ("(x:1.2.3)", [("x:1.2.3)", 1.1)]),  # not a number: text, no crash
        ("", [("", 1.0)]),
    ],
)
def test_emphasis_syntax(prompt, expected):
    got = parse_emphasis(prompt)
    assert [text for text, _ in got] == [text for text, _ in expected]
    assert [factor for _, factor in got] == pytest.approx([factor for _, factor in expected])


def test_a_150_token_prompt_gives_two_chunks_of_77(tokenizer, encoder):
    prompt = "cat " * 150
    chunks = prompt_chunks(tokenizer, prompt)
    assert [len(c.ids) for c in chunks] == [77, 77]
    assert all(c.ids[0] == BOS and c.ids[76] == EOS for c in chunks)
    cond, uncond = encode_prompt_pair(encoder, tokenizer, prompt, "")
    assert cond.shape == uncond.shape == (1, 154, TINY.hidden_size)
    # The negative was padded with an empty chunk: both of its halves are the empty prompt's context.
    assert torch.equal(uncond[:, :77], uncond[:, 77:])


@pytest.mark.parametrize(("words", "chunks"), [(75, 1), (76, 2), (150, 2), (151, 3)])
def test_chunk_boundaries(tokenizer, words, chunks):
    assert len(prompt_chunks(tokenizer, "cat " * words)) == chunks


def test_break_starts_a_new_chunk(tokenizer):
    chunks = prompt_chunks(tokenizer, "a red cat BREAK a blue dog")
    assert len(chunks) == 2
    assert chunks[0].ids[:5] == [BOS, 320, 736, 2368, EOS]
    assert chunks[1].ids[:5] == [BOS, 320, 1746, 1929, EOS]


def test_padding_follows_the_family(tokenizer):
    sd2_tokenizer = load_tokenizer(pad_token_id=0)
    assert prompt_chunks(tokenizer, "a cat")[0].ids[3:] == [EOS] * 74
    assert prompt_chunks(sd2_tokenizer, "a cat")[0].ids[3:] == [EOS] + [0] * 73


def test_plain_prompt_equals_encoding_the_padded_ids(tokenizer, encoder):
    prompt, negative = "a photo of a cat, best quality", "blurry"
    cond, uncond = encode_prompt_pair(encoder, tokenizer, prompt, negative)
    with torch.no_grad():
        assert torch.equal(cond, encoder(torch.tensor([tokenizer.encode(prompt)])))
        assert torch.equal(uncond, encoder(torch.tensor([tokenizer.encode(negative)])))


def test_emphasis_scales_its_tokens_and_keeps_the_mean(tokenizer, encoder):
    plain, _ = encode_prompt_pair(encoder, tokenizer, "a cat on a mat", "")
    weighted, _ = encode_prompt_pair(encoder, tokenizer, "a (cat:1.5) on a mat", "")
    assert prompt_chunks(tokenizer, "a (cat:1.5) on a mat")[0].ids == tokenizer.encode("a cat on a mat")
    assert not torch.allclose(weighted, plain)
    ratio = weighted[0] / plain[0]  # [77, hidden]: one factor per position, times the mean correction
    correction = ratio[1, 0]  # "a" is unweighted
    assert torch.allclose(ratio[2], 1.5 * correction, rtol=1e-4)  # "cat"
    assert torch.allclose(ratio[[0, 1, 3, 4, 5, 6, 40]], correction, rtol=1e-4)
    # The mean is kept (here it is zero up to rounding, so compare on the values' own scale).
    assert abs(weighted.mean() - plain.mean()) <= 1e-5 * plain.abs().mean()


def test_emphasis_restores_a_mean_that_is_really_there(tokenizer, encoder):
    class Shifted(torch.nn.Module):  # like CLIP's final LayerNorm with a learned bias: mean 0.3
        def __init__(self):
            super().__init__()
            self.inner = encoder

        def forward(self, ids):
            return self.inner(ids) + 0.3

    shifted = Shifted()
    plain, _ = encode_prompt_pair(shifted, tokenizer, "a cat on a mat", "")
    weighted, _ = encode_prompt_pair(shifted, tokenizer, "a (cat:1.5) on a mat", "")
    assert weighted.mean() == pytest.approx(plain.mean().item(), rel=1e-5)
    ratio = weighted[0] / plain[0]
    assert ratio[1, 0] < 1  # the other tokens were scaled down to pay for "cat"'s extra weight


def test_pair_shapes_match_when_the_negative_is_longer(tokenizer, encoder):
    cond, uncond = encode_prompt_pair(encoder, tokenizer, "a cat", "ugly " * 80)
    assert cond.shape == uncond.shape == (1, 154, TINY.hidden_size)
