"""The models a user has: scan a folder for checkpoints, say what each one is or why it cannot be used.

Qt-free, for the GUI's models panel and the CLI. Reading a file's family costs a header read, not the
weights; the hash (A1111's "Model hash", a sha256 of the whole file) is separate because it reads
every byte. Adding a model links or copies it into the folder, never over an existing file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ldm_studio.engine.checkpoints.demo_models import DEMO_TXT2IMG, DEMO_UPSCALER
from ldm_studio.engine.errors import LdmError
from ldm_studio.engine.outputs import unique_path
from ldm_studio.resources import resource_path

CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt")


@dataclass(frozen=True)
class ModelEntry:
    path: Path
    family: str = ""  # family name from the checkpoint loader ("sd1", "sd2-v", …); "" when unusable
    family_label: str = ""  # for humans
    modes: tuple[str, ...] = ()
    default_size: tuple[int, int] | None = None
    default_cfg_scale: float | None = None  # the guidance scale the model draws best at
    default_noise_level: int | None = None  # upscalers: the input noise level it upscales best at
    size_multiple: int | None = None  # image sides must be multiples of this (VAE factor x downsamplings)
    problem: str = ""  # why the file cannot be used; "" when it can
    bundled: bool = False

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def usable(self) -> bool:
        return not self.problem


def is_checkpoint_file(path: Path) -> bool:
    return path.suffix.lower() in CHECKPOINT_SUFFIXES


def inspect_model(path: Path, bundled: bool = False) -> ModelEntry:
    """What `path` is, or an entry that says why it cannot be used (never raises for a bad file)."""
    from ldm_studio.engine.checkpoints.inspection import (
        inspect_checkpoint,  # imports torch: only when scanning
    )

    try:
        info = inspect_checkpoint(path)
    except LdmError as exc:
        return ModelEntry(path, problem=str(exc), bundled=bundled)
    except OSError as exc:
        return ModelEntry(path, problem=f"{path.name} cannot be read: {exc.strerror or exc}", bundled=bundled)
    except Exception as exc:  # untrusted bytes: one odd file must not hide the folder's other models
        reason = f"{path.name} is damaged or not a checkpoint ({type(exc).__name__}: {_first_line(exc)})"
        return ModelEntry(path, problem=reason, bundled=bundled)
    family = info.config
    return ModelEntry(
        path,
        family=family.name,
        family_label=family.label,
        modes=tuple(family.modes),
        default_size=tuple(family.default_size),
        default_cfg_scale=family.default_cfg_scale,
        default_noise_level=family.default_noise_level if "upscale" in family.modes else None,
        size_multiple=family.vae.downscale * 2 ** (len(family.unet.channel_mult) - 1),
        bundled=bundled,
    )


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else "no details"


def list_checkpoints(folder: Path) -> list[Path]:
    """Checkpoint files in `folder` and its sub-folders, sorted by name; LdmError if it is not a folder."""
    if not folder.exists():
        raise LdmError(
            f"The models folder {folder} does not exist. Create it, or choose another in Preferences."
        )
    if not folder.is_dir():
        raise LdmError(f"The models folder {folder} is a file, not a folder. Choose another in Preferences.")
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [
            Path(root, name) for name in files if not name.startswith(".") and is_checkpoint_file(Path(name))
        ]
    return sorted(found, key=lambda p: str(p.relative_to(folder)).lower())


def scan_models(folder: Path, inspect: Callable[[Path], ModelEntry] = inspect_model) -> list[ModelEntry]:
    return [inspect(path) for path in list_checkpoints(folder)]


def bundled_model_paths() -> list[Path]:
    """The demo models shipped in resources/models (those present)."""
    return [
        p
        for p in (resource_path("models", DEMO_TXT2IMG), resource_path("models", DEMO_UPSCALER))
        if p.exists()
    ]


def add_model_file(source: Path, folder: Path) -> Path:
    """Put a checkpoint into the models folder: a hard link when possible (instant, no extra space),
    else a copy written to a hidden temporary file and renamed, so a half-copied model never appears.
    An existing file of the same name is kept; the new one gets a free numbered name."""
    if not source.is_file():
        raise LdmError(f"{source} is not a file.")
    if not is_checkpoint_file(source):
        raise LdmError(f"{source.name} is not a checkpoint: models are .safetensors or .ckpt files.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LdmError(f"Cannot create the models folder {folder}: {exc.strerror or exc}") from exc
    if source.resolve().parent == folder.resolve():
        return source  # already there
    try:
        target = unique_path(folder / source.name)  # reserved: created empty
    except LdmError as exc:
        raise LdmError(
            f"Could not add {source.name} to the models folder {folder}: it is not writable."
        ) from exc
    try:
        with contextlib.suppress(OSError):
            os.replace(_link_beside(source, target), target)
            return target
        fd, temp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".part", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                shutil.copyfileobj(src, out, 16 * 2**20)
            os.replace(temp, target)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        return target
    except OSError as exc:
        with contextlib.suppress(OSError):
            if target.stat().st_size == 0:
                target.unlink()
        raise LdmError(f"Could not add {source.name} to {folder}: {exc.strerror or exc}") from exc


def _link_beside(source: Path, target: Path) -> Path:
    """A hard link to `source` under a hidden name next to `target` (raises OSError across file systems)."""
    link = target.with_name(f".{target.name}.link")
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    os.link(source, link)
    return link
