"""The bundled CLIP tokenizer gives the ids the original CLIP BPE gives, offline, padded per family."""

import json
import sys
import unicodedata
from functools import lru_cache
from itertools import pairwise

import pytest
import regex

from ldm_studio.engine.errors import ResourceError
from ldm_studio.engine.pipelines import tokenizer as tokenizer_module
from ldm_studio.engine.pipelines.tokenizer import load_tokenizer
from ldm_studio.resources import resource_path

BOS, EOS = 49406, 49407

PROMPTS = [
    "a photo of a cat",
    "A Photo Of A CAT!!",
    "masterpiece, best quality, (ultra-detailed:1.2), 1girl, solo, looking at viewer",
    "an astronaut riding a horse on mars, 8k, artstation, octane render",
    "it's a dog's life, don't you think? they're we've I'm you'll he'd",
    "1024x768 wallpaper, 35mm f/1.8, ISO-100, 1/250s",
    "café naïve façade résumé Straße",
    "日本の猫 🐱🐶 — emoji and CJK",
    "   lots   of\twhitespace\n\nand newlines   ",
    "snake_case and kebab-case and CamelCaseWords",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "[[brackets]] {braces} <angle> @user #tag $100 %50 ^caret &amp ~tilde `tick` |pipe|",
    "",
]


def _byte_symbols() -> dict[int, str]:
    # Written independently of the generator script: printable bytes stand for themselves.
    keep = [b for b in range(256) if chr(b).isprintable() and chr(b) != " " and b not in (0xA0, 0xAD)]
    others = [b for b in range(256) if b not in keep]
    return {**{b: chr(b) for b in keep}, **{b: chr(256 + i) for i, b in enumerate(others)}}


@lru_cache(maxsize=1)
def _vocab_and_ranks() -> tuple[dict[str, int], dict[tuple[str, ...], int]]:
    folder = resource_path("tokenizer")
    vocab = json.loads((folder / "vocab.json").read_text("utf-8"))
    lines = (folder / "merges.txt").read_text("utf-8").splitlines()[1:]
    return vocab, {tuple(line.split()): i for i, line in enumerate(lines)}


def _reference_ids(text: str) -> list[int]:
    """The original CLIP BPE algorithm (minus ftfy/html cleanup), from the shipped merges and vocab."""
    vocab, rank = _vocab_and_ranks()
    symbols_of = _byte_symbols()
    text = " ".join(unicodedata.normalize("NFC", text).split()).lower()
    pattern = r"'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"
    ids = []
    for word in regex.findall(pattern, text, regex.IGNORECASE):
        parts = [symbols_of[b] for b in word.encode("utf-8")]
        parts[-1] += "</w>"
        while len(parts) > 1:
            best = min(pairwise(parts), key=lambda pair: rank.get(pair, float("inf")))
            if best not in rank:
                break
            merged, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and (parts[i], parts[i + 1]) == best:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        ids += [vocab[p] for p in parts]
    return ids


@pytest.fixture(scope="module")
def sd1_tokenizer():
    return load_tokenizer(pad_token_id=EOS)


def test_known_ids(sd1_tokenizer):
    assert sd1_tokenizer.encode("a photo of a cat")[:8] == [BOS, 320, 1125, 539, 320, 2368, EOS, EOS]
    assert sd1_tokenizer.tokenize("Hello world") == [3306, 1002]
    assert sd1_tokenizer.tokenize("a dog") == [320, 1929]


def test_vocabulary_layout_follows_clip():
    vocab = json.loads(resource_path("tokenizer", "vocab.json").read_text("utf-8"))
    merges = resource_path("tokenizer", "merges.txt").read_text("utf-8").splitlines()
    assert len(vocab) == 49408 and sorted(vocab.values()) == list(range(49408))
    assert vocab["!"] == 0 and vocab["!</w>"] == 256 and vocab["in"] == 512
    assert vocab["<|startoftext|>"] == BOS and vocab["<|endoftext|>"] == EOS
    assert merges[0].startswith("#version") and merges[1] == "i n" and len(merges) == 1 + 48894


@pytest.mark.parametrize("text", PROMPTS)
def test_matches_the_original_bpe_algorithm(sd1_tokenizer, text):
    assert sd1_tokenizer.tokenize(text) == _reference_ids(text)


def test_sd1_pads_with_eos_and_sd2_with_zero_after_the_first_eos(sd1_tokenizer):
    sd2_tokenizer = load_tokenizer(pad_token_id=0)
    sd1, sd2 = sd1_tokenizer.encode("a cat"), sd2_tokenizer.encode("a cat")
    assert len(sd1) == len(sd2) == 77
    assert sd1 == [BOS, 320, 2368] + [EOS] * 74
    assert sd2 == [BOS, 320, 2368, EOS] + [0] * 73
    # A literal "!" stays "!</w>" (256) even though the pad id is 0.
    assert sd2_tokenizer.tokenize("wow!") == sd1_tokenizer.tokenize(
        "wow!"
    ) and 0 not in sd2_tokenizer.tokenize("!")


def test_long_text_is_truncated_keeping_eos_last(sd1_tokenizer):
    words = sd1_tokenizer.tokenize("cat " * 100)
    assert len(words) == 100
    ids = sd1_tokenizer.encode("cat " * 100)
    assert len(ids) == 77 and ids[0] == BOS and ids[-1] == EOS and ids[1:76] == words[:75]


def test_resource_path_finds_the_frozen_bundle(monkeypatch, tmp_path):
    assert resource_path("tokenizer", "vocab.json").is_file()
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resource_path("tokenizer") == tmp_path / "resources" / "tokenizer"


def test_missing_files_give_a_readable_error(monkeypatch, tmp_path):
    monkeypatch.setattr(tokenizer_module, "resource_path", lambda *parts: tmp_path.joinpath(*parts))
    tokenizer_module._load_backend.cache_clear()
    try:
        with pytest.raises(ResourceError, match=r"vocab\.json"):
            load_tokenizer(pad_token_id=EOS)
    finally:
        tokenizer_module._load_backend.cache_clear()
