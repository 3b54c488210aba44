"""The LoRA and embeddings folders: find a file by the name a prompt uses (its stem). Pure Python, no torch.

Files are looked for in the folder and its subfolders (people sort them by theme), by stem; an exact
match wins over one that differs only in case. The GUI may import this module (no torch).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from ldm_studio.engine.adapters.prompt_tags import parse_lora_tags
from ldm_studio.engine.errors import InputError

ADAPTER_SUFFIXES = (".safetensors", ".pt", ".ckpt", ".bin")


def adapter_files(folder: str | Path | None) -> dict[str, Path]:
    """{stem: path} of the adapter-type files under `folder` (first found per stem, sorted paths)."""
    if folder is None:
        return {}
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        return {}
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in ADAPTER_SUFFIXES and path.is_file():
            found.setdefault(path.stem, path)
    return found


def find_adapter(name: str, folder: str | Path | None, files: dict[str, Path] | None = None) -> Path | None:
    """The file `<lora:NAME>` means in `folder`, or None."""
    files = adapter_files(folder) if files is None else files
    if name in files:
        return files[name]
    lowered = {stem.lower(): path for stem, path in files.items()}
    return lowered.get(name.lower())


def lora_not_found(name: str, folder: str | Path | None) -> InputError:
    if folder is None:
        return InputError(f"LoRA {name!r} not found: no LoRA folder is set")
    return InputError(f"LoRA {name!r} not found in {folder}")


def resolve_lora_tags(prompt: str, folder: str | Path | None) -> tuple[str, list[tuple[Path, float, float]]]:
    """(the prompt without its `<lora:…>` tags, [(file, text multiplier, UNet multiplier)] in order).

    An unknown NAME is a one-line InputError naming it and the folder searched.
    """
    text, tags = parse_lora_tags(prompt)
    if not tags:
        return prompt, []
    files = adapter_files(folder)
    resolved = []
    for tag in tags:
        path = find_adapter(tag.name, folder, files)
        if path is None:
            raise lora_not_found(tag.name, folder)
        resolved.append((path, tag.te, tag.unet))
    return text, resolved


def missing_loras(prompt: str, folder: str | Path | None) -> tuple[list[str], list[str]]:
    """(names found, names missing) of the `<lora:…>` tags in `prompt`: what dropping a PNG restores."""
    _, tags = parse_lora_tags(prompt)
    files = adapter_files(folder)
    found, missing = [], []
    for tag in tags:
        (found if find_adapter(tag.name, folder, files) else missing).append(tag.name)
    return found, missing


def words_in(texts: Iterable[str], names: Iterable[str]) -> list[str]:
    """The names that occur as whole words in any of `texts` (case-insensitive, as CLIP lower-cases)."""
    joined = "\n".join(texts).lower()
    return [name for name in names if re.search(rf"(?<![\w]){re.escape(name.lower())}(?![\w])", joined)]
