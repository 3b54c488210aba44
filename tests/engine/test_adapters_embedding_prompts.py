"""Textual-inversion embeddings in the prompt encoder: the word's n vectors in n token slots.

The reference builds the same context by hand: the vectors appended to a copy of the token table under
new ids, the ids written out, the emphasis weights written out, and the copy encoding that chunk.
"""

from __future__ import annotations

import copy
import threading

import pytest
import torch
from torch import nn

from ldm_studio.engine.errors import InputError
from ldm_studio.engine.file_hashes import sha256_of_file
from ldm_studio.engine.metadata.a1111 import parse_hash_list, parse_infotext
from ldm_studio.engine.pipelines import run as our_pipeline
from ldm_studio.engine.pipelines.prompts import PromptChunk, encode_chunks, encode_prompt_pair, prompt_chunks
from ldm_studio.engine.pipelines.tokenizer import CHUNK_LENGTH, load_tokenizer
from ldm_studio.engine.requests import GenerationRequest, Result
from tests.adapter_files import tiny_nets, write_a1111_embedding, write_safetensors_embedding
from tests.checkpoints import write_tiny_checkpoint


@pytest.fixture(scope="module")
def text():
    _, _, _, encoder = tiny_nets("sd1")
    return encoder, load_tokenizer(49407)


def _by_hand(encoder, tokenizer, pieces) -> torch.Tensor:
    """pieces: [(text, weight) | (vectors [n, w], weight)] → the context of one chunk built by hand."""
    extended = copy.deepcopy(encoder)
    table = extended.transformer.embeddings.token_embedding.weight.detach()
    ids, weights, extra = [], [], []
    for piece, weight in pieces:
        if isinstance(piece, str):
            new = tokenizer.tokenize(piece)
        else:
            new = [table.shape[0] + len(extra) + i for i in range(piece.shape[0])]
            extra.extend(piece)
        ids += new
        weights += [weight] * len(new)
    if extra:
        grown = torch.cat([table, torch.stack(extra)])
        extended.transformer.embeddings.token_embedding = nn.Embedding.from_pretrained(grown)
    padded = tokenizer.wrap_and_pad(ids)
    chunk = PromptChunk(padded, [1.0, *weights] + [1.0] * (len(padded) - 1 - len(weights)))
    return encode_chunks(extended, [chunk])


def test_embedding_vectors_take_their_token_slots_with_emphasis(text):
    encoder, tokenizer = text
    vectors = torch.randn(3, 32, generator=torch.Generator().manual_seed(4))
    prompt = "a photo of (MyEmb:1.3), red"
    cond, uncond = encode_prompt_pair(encoder, tokenizer, prompt, "blurry myemb", {"myemb": vectors})
    expected = _by_hand(encoder, tokenizer, [("a photo of ", 1.0), (vectors, 1.3), (", red", 1.0)])
    assert torch.allclose(cond, expected, atol=1e-6, rtol=0)
    assert torch.allclose(uncond, _by_hand(encoder, tokenizer, [("blurry ", 1.0), (vectors, 1.0)]), atol=1e-6)
    # The emphasis really applies to the slots: without it the context differs.
    plain = _by_hand(encoder, tokenizer, [("a photo of ", 1.0), (vectors, 1.0), (", red", 1.0)])
    assert (plain - cond).abs().max().item() > 1e-3
    # A word that only contains the name is not the embedding.
    chunks = prompt_chunks(tokenizer, "myembroidery", {"myemb": vectors})
    assert chunks[0].vectors == ()


def test_an_embedding_is_not_split_across_chunks(text):
    _, tokenizer = text
    vectors = torch.randn(4, 32)
    filler = " ".join(["cat"] * (CHUNK_LENGTH - 2))
    chunks = prompt_chunks(tokenizer, filler + " myemb dog", {"myemb": vectors})
    assert len(chunks) == 2 and chunks[0].vectors == ()
    assert [slot for slot, _ in chunks[1].vectors] == [1, 2, 3, 4]
    assert all(torch.equal(v, vectors[i]) for i, (_, v) in enumerate(chunks[1].vectors))


def test_no_embeddings_gives_the_same_chunks(text):
    _, tokenizer = text
    prompt = "a (red:1.2) cube, [blue] sky BREAK more"
    assert prompt_chunks(tokenizer, prompt) == prompt_chunks(tokenizer, prompt, {})


def _request(tmp_path, prompt: str) -> GenerationRequest:
    return GenerationRequest(
        prompt=prompt,
        seed=3,
        steps=2,
        width=64,
        height=64,
        preview_interval=0,
        embeddings_dir=str(tmp_path / "embeddings"),
    )


def test_embedding_in_a_run_changes_the_image_and_is_hashed(tmp_path):
    from ldm_studio.engine.checkpoints.loading import load_model

    model = load_model(write_tiny_checkpoint(tmp_path / "sd1.safetensors", "sd1"), device="cpu")
    folder = tmp_path / "embeddings"
    folder.mkdir()
    width = model.text_encoder.config.hidden_size
    path = write_a1111_embedding(folder / "shiny.pt", torch.randn(2, width) * 0.5)
    write_safetensors_embedding(folder / "wide.safetensors", torch.randn(1, width + 32))

    def image(prompt: str):
        events = list(our_pipeline.run(model, _request(tmp_path, prompt), threading.Event()))
        assert isinstance(events[-1], Result)
        return events[-1]

    with_embedding, plain = image("a shiny cube"), image("a cube")
    infotext = parse_infotext(with_embedding.infotexts[0])
    assert parse_hash_list(infotext["TI hashes"]) == {"shiny": sha256_of_file(path)[:12]}
    assert "TI hashes" not in plain.infotexts[0]
    assert with_embedding.images[0].tobytes() != image("a cube shiny").images[0].tobytes()
    with pytest.raises(InputError) as caught:
        our_pipeline.run(model, _request(tmp_path, "a wide cube"), threading.Event())
    assert "'wide'" in str(caught.value) and "\n" not in str(caught.value)
