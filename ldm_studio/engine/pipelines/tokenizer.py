"""The CLIP BPE tokenizer, loaded offline from resources/tokenizer/ (see training/make_tokenizer_files.py).

Padding is done here, not by transformers: SD1 pads with EOS and SD2 with id 0 after the first EOS, and
registering "!" (id 0) as transformers' pad token would also turn every "!" typed in a prompt into id 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from ldm_studio.engine.errors import ResourceError
from ldm_studio.resources import resource_path

BOS_TOKEN_ID = 49406
EOS_TOKEN_ID = 49407
VOCAB_SIZE = 49408
MODEL_LENGTH = 77  # positions the text encoder sees
CHUNK_LENGTH = MODEL_LENGTH - 2  # prompt tokens per chunk, between BOS and EOS


class ClipTokenizer:
    """Text → CLIP token ids; `encode` gives the padded 77 ids a text encoder takes."""

    bos_token_id = BOS_TOKEN_ID
    eos_token_id = EOS_TOKEN_ID
    model_length = MODEL_LENGTH

    def __init__(self, backend: Any, pad_token_id: int):
        self._backend = backend  # a transformers CLIPTokenizer(Fast)
        self.pad_token_id = pad_token_id

    def tokenize(self, text: str) -> list[int]:
        """Ids of the text alone: no BOS/EOS, no truncation."""
        return self._backend(text, add_special_tokens=False)["input_ids"]

    def wrap_and_pad(self, ids: Sequence[int]) -> list[int]:
        """BOS + at most 75 ids + EOS, then padding to 77 (truncation keeps EOS last)."""
        body = [self.bos_token_id, *ids[:CHUNK_LENGTH], self.eos_token_id]
        return body + [self.pad_token_id] * (self.model_length - len(body))

    def encode(self, text: str) -> list[int]:
        """The 77 ids of a text as the original pipelines feed them to the text encoder."""
        return self.wrap_and_pad(self.tokenize(text))


@lru_cache(maxsize=1)
def _load_backend() -> Any:
    from transformers import CLIPTokenizerFast  # slow import: only when a tokenizer is needed

    folder = resource_path("tokenizer")
    fix = "Reinstall ldm_studio or regenerate them with ldm_studio/training/make_tokenizer_files.py."
    missing = [name for name in ("vocab.json", "merges.txt") if not (folder / name).is_file()]
    if missing:
        raise ResourceError(f"The CLIP tokenizer files {', '.join(missing)} are missing from {folder}. {fix}")
    try:
        # No length limit here: prompts.py splits long prompts into chunks, nothing is truncated or warned.
        backend = CLIPTokenizerFast.from_pretrained(
            str(folder), local_files_only=True, model_max_length=10**9
        )
    except (OSError, ValueError) as exc:
        raise ResourceError(f"The CLIP tokenizer files in {folder} cannot be read ({exc}). {fix}") from exc
    if len(backend) != VOCAB_SIZE or backend.convert_tokens_to_ids("<|endoftext|>") != EOS_TOKEN_ID:
        raise ResourceError(f"The CLIP tokenizer files in {folder} are damaged (wrong vocabulary). {fix}")
    return backend


def load_tokenizer(pad_token_id: int) -> ClipTokenizer:
    """The CLIP tokenizer from resources/tokenizer/, offline; pads with `pad_token_id` (SD1 49407, SD2 0)."""
    return ClipTokenizer(_load_backend(), pad_token_id)
