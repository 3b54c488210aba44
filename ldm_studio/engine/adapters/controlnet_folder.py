"""The `controlnet/` folder inside the models folder: list ControlNet files and find one by name (no torch).

A listing reads one safetensors header per file (no tensor) to tell its family (sd1 / sd2 / sdxl) and
kind; pickled `.pth` / `.ckpt` files cannot be read without unpickling, so only their name tells the
kind and the family stays unknown until they are loaded. The GUI may import this module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ldm_studio.engine.adapter_scan import read_header
from ldm_studio.engine.adapters.controlnet_layout import (
    FAMILY_LABELS,
    LayoutError,
    config_from_shapes,
    family_of,
    kind_from_name,
    original_names,
)
from ldm_studio.engine.errors import InputError
from ldm_studio.engine.json_text import loads

CONTROLNET_FOLDER = "controlnet"  # inside the models folder
CONTROLNET_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt", ".bin")


@dataclass(frozen=True)
class ControlNetEntry:
    path: Path
    family: str | None  # "sd1" / "sd2" / "sdxl"; None when the header cannot tell (.pth)
    kind: str  # "canny", "depth", … or ""
    problem: str = ""

    @property
    def name(self) -> str:
        return self.path.stem

    def incompatibility(self, model_family: str | None) -> str:
        """Why this ControlNet cannot steer a model of `model_family` ("" when it can, or nobody can tell)."""
        if self.problem:
            return self.problem
        ours = (model_family or "").split("-", 1)[0]
        if self.family is None or ours not in FAMILY_LABELS or self.family == ours:
            return ""
        return (
            f"this ControlNet is for {FAMILY_LABELS[self.family]}, the chosen model is {FAMILY_LABELS[ours]}"
        )


def controlnet_folder(models_folder: str | Path) -> Path:
    return Path(models_folder).expanduser() / CONTROLNET_FOLDER


def scan_controlnets(folder: str | Path | None) -> list[ControlNetEntry]:
    """Every ControlNet-type file under `folder` (subfolders too), sorted by relative path; [] if none."""
    if folder is None or not Path(folder).is_dir():
        return []
    folder = Path(folder)
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [
            Path(root, f) for f in files if f.lower().endswith(CONTROLNET_SUFFIXES) and not f.startswith(".")
        ]
    found.sort(key=lambda p: str(p.relative_to(folder)).lower())
    return [inspect_entry(path) for path in found]


def inspect_entry(path: Path) -> ControlNetEntry:
    kind = kind_from_name(path)
    if path.suffix.lower() != ".safetensors":
        return ControlNetEntry(path, None, kind)
    try:
        shapes, _ = read_header(path)
        _check_size(path)
        config = config_from_shapes(original_names({k: tuple(v) for k, v in shapes.items()}))
    except (OSError, ValueError, TypeError, KeyError, IndexError) as exc:  # LayoutError is a ValueError
        reason = str(exc) if isinstance(exc, LayoutError) else f"cannot be read: {exc}"
        return ControlNetEntry(path, None, kind, problem=f"{path.name}: {reason}")
    return ControlNetEntry(path, family_of(config), kind)


def _check_size(path: Path) -> None:
    """ValueError when the file is shorter than its header says (an interrupted download)."""
    with path.open("rb") as file:
        length = int.from_bytes(file.read(8), "little")
        header = loads(file.read(length))
    ends = [e["data_offsets"][1] for k, e in header.items() if k != "__metadata__" and isinstance(e, dict)]
    if 8 + length + max(ends, default=0) > path.stat().st_size:
        raise ValueError("the file is truncated (an interrupted download? download it again)")


def find_controlnet(name: str, folder: str | Path | None) -> Path | None:
    """The file a ControlNet name (a file stem, as infotext names it) means in `folder`, or None."""
    if folder is None or not Path(folder).is_dir():
        return None
    candidates = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in CONTROLNET_SUFFIXES)
    for exact in (True, False):
        for path in candidates:
            if (path.stem == name) if exact else (path.stem.lower() == name.lower()):
                return path
    return None


def resolve_controlnet(file: str, folder: str | Path | None) -> str:
    """`file` if it exists, else a name looked up in `folder`; InputError if neither."""
    path = Path(file).expanduser()
    if path.is_file():
        return str(path)
    found = find_controlnet(Path(file).stem if path.suffix.lower() in CONTROLNET_SUFFIXES else file, folder)
    if found is None:
        where = f" (looked in {folder})" if folder else ""
        raise InputError(f"ControlNet file not found: {file}{where}")
    return str(found)
