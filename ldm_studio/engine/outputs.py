"""Saving results without ever overwriting a user's file or leaving a half-written PNG behind.

A name is reserved by creating it with O_EXCL (two runs, or two programs, can never get the same one);
the PNG is written to a hidden temporary file in the same folder and then moved onto the reserved name
in one atomic rename, so a crash leaves either nothing, an empty placeholder, or the whole image.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

from PIL import Image

from ldm_studio.engine.errors import LdmError
from ldm_studio.engine.metadata.png import write_png
from ldm_studio.engine.requests import GenerationRequest

_NUMBERED = re.compile(r"^(\d+)-")
_MAX_TRIES = 100_000


def _not_writable(folder: Path, exc: OSError) -> LdmError:
    # "Not a directory" from deep inside a path is unhelpful: name the file that is in the way.
    blocker = next((p for p in (folder, *folder.parents) if p.is_file()), None)
    reason = f"{blocker} is a file, not a folder" if blocker else (exc.strerror or str(exc))
    return LdmError(f"Cannot save into {folder}: {reason}. Choose another output folder.")


def _reserve(path: Path) -> bool:
    """Create `path` empty if it does not exist yet; False if it does."""
    try:
        with open(path, "xb"):
            return True
    except FileExistsError:
        return False
    except OSError as exc:
        raise _not_writable(path.parent, exc) from exc


def unique_path(path: str | Path) -> Path:
    """`path`, or `name-1.png`, `name-2.png`, … if taken; the name returned is reserved (created empty)."""
    path = Path(path)
    if _reserve(path):
        return path
    for n in range(1, _MAX_TRIES):
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        if _reserve(candidate):
            return candidate
    raise LdmError(f"Cannot find a free file name next to {path}.")


def next_output_path(folder: str | Path, label: str, suffix: str = ".png") -> Path:
    """The next `00001-<label>.png`-style name in `folder` (A1111 numbering), reserved (created empty)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        names = os.listdir(folder)
    except OSError as exc:
        raise _not_writable(folder, exc) from exc
    numbers = [int(m.group(1)) for m in map(_NUMBERED.match, names) if m]
    start = max(numbers, default=0) + 1
    for n in range(start, start + _MAX_TRIES):
        candidate = folder / f"{n:05d}-{label}{suffix}"
        if _reserve(candidate):
            return candidate
    raise LdmError(f"Cannot find a free file name in {folder}.")


def _target(destination: Path, seed: int) -> Path:
    # An existing folder, or a name without an extension, is a folder to number files in.
    if destination.is_dir() or not destination.suffix:
        return next_output_path(destination, str(seed))
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _not_writable(destination.parent, exc) from exc
    return unique_path(destination)


def save_png_atomic(
    image: Image.Image,
    infotext: str,
    request: GenerationRequest,
    destination: str | Path,
    *,
    seed: int | None = None,
) -> Path:
    """Save `image` with its parameters as a new file; returns the path actually written.

    `destination` is a file name (a free numbered variant is chosen if it exists) or a folder (files are
    numbered `00001-<seed>.png`, with `seed` defaulting to the request's).
    """
    target = _target(Path(destination), request.seed if seed is None else seed)
    temp_name = None
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "wb") as file:
            write_png(file, image, infotext, request)
            file.flush()
            os.fsync(file.fileno())
        # mkstemp makes the file private (0600); give it the permissions a plain new file gets here.
        os.chmod(temp_name, target.stat().st_mode)
        os.replace(temp_name, target)
        return target
    except BaseException as exc:
        # Leave no trace of a save that did not finish: neither the temporary file nor the placeholder.
        if temp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
        with contextlib.suppress(OSError):
            if target.stat().st_size == 0:
                target.unlink()
        if isinstance(exc, OSError):
            raise LdmError(f"Could not save {target.name} in {target.parent}: {exc}") from exc
        raise
