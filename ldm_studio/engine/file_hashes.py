"""File hashes: A1111's "Model hash" and the sha256 behind it. Torch-free, so the GUI's models panel hashes
in the background of a window that has not loaded a model yet, with the same helper the engine uses."""

from __future__ import annotations

import hashlib
from pathlib import Path

_hashes: dict[tuple[str, int, int], str] = {}
_short_hashes: dict[tuple[str, int, int], str] = {}  # remembered from an earlier session


def _version(path: str | Path) -> tuple[str, int, int]:
    """(resolved path, size, mtime): a changed or replaced file is a new key, never a stale hash."""
    path = Path(path).expanduser().resolve()
    stat = path.stat()
    return str(path), stat.st_size, stat.st_mtime_ns


def sha256_of_file(path: str | Path) -> str:
    """The file's sha256 in hex (read in chunks); cached per (path, size, mtime) so it is computed once."""
    key = _version(path)
    path = Path(key[0])
    if key not in _hashes:
        with path.open("rb") as file:
            _hashes[key] = hashlib.file_digest(file, "sha256").hexdigest()
    return _hashes[key]


def short_hash(path: str | Path) -> str:
    """The A1111 "Model hash": the first 10 hex digits of the file's sha256."""
    remembered = _short_hashes.get(_version(path))
    return remembered if remembered is not None else sha256_of_file(path)[:10]


def remember_short_hash(path: str | Path, digest: str) -> None:
    """Take `digest` as the short hash of the file as it is now (size and mtime), computed earlier.

    The GUI keeps model hashes across restarts; seeding them here spares the first generation after a
    start re-reading the whole checkpoint (5 s for a 6.9 GB SDXL file on two cores) for its infotext."""
    try:
        key = _version(path)
    except OSError:
        return  # the file went away: nothing to remember
    _short_hashes[key] = digest


_tensor_hashes: dict[tuple[str, int, int], str] = {}


def sha256_after_header(path: str | Path) -> str:
    """sha256 of a .safetensors file's tensor data: the bytes after its 8-byte length and JSON header.

    What sd-webui-additional-networks and A1111 hash for a LoRA ("Lora hashes"), so renaming metadata
    does not change it. Cached per (path, size, mtime) like `sha256_of_file`."""
    key = _version(path)
    path = Path(key[0])
    if key not in _tensor_hashes:
        digest = hashlib.sha256()
        with path.open("rb") as file:
            header_length = int.from_bytes(file.read(8), "little")
            file.seek(8 + header_length)
            while chunk := file.read(1 << 20):
                digest.update(chunk)
        _tensor_hashes[key] = digest.hexdigest()
    return _tensor_hashes[key]
