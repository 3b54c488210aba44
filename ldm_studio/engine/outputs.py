"""Saving results without ever overwriting a user's file or leaving a half-written image behind.

The image is written to a hidden temporary file in the target folder (`.ldm_studio-*.tmp`), fsynced, and
then hard-linked to the first free name (a link never replaces an existing file, so two runs or two
programs can never take the same name) and the temporary name dropped: the name appears only when the
file is complete, and a crash or `kill -9` at any moment leaves nothing under it. File systems without
hard links (FAT, some network shares) fall back to reserving the name with O_EXCL and renaming onto it,
where a crash can leave an empty placeholder. Temporaries of ours older than an hour (a crash's) are
removed on the next save into the folder.

Formats by the name's extension: .png (A1111 `parameters` text chunk and our JSON chunk), .jpg/.jpeg
and .webp (the parameters in EXIF UserComment, UTF-16 with the "UNICODE" prefix, as A1111 writes them).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterator
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


SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
_TEMP_PREFIX = ".ldm_studio-"
_STALE_SECONDS = 3600
_EXIF_IFD, _USER_COMMENT = 0x8769, 0x9286


def _is_folder(destination: Path) -> bool:
    # An existing folder, or a name without an extension, is a folder to number files in.
    return destination.is_dir() or not destination.suffix


def _format(destination: Path) -> str:
    fmt = SAVE_FORMATS.get(destination.suffix.lower())
    if fmt is None:
        names = ", ".join(SAVE_FORMATS)
        raise LdmError(f"Cannot save {destination.name}: images are saved as {names}; choose one of those.")
    return fmt


def check_destination(destination: str | Path) -> None:
    """Before a run: LdmError unless an image could be saved at `destination` (a known extension, and a
    folder that is, or can be made, writable). Writes nothing that stays."""
    destination = Path(destination).expanduser()
    folder = destination if _is_folder(destination) else destination.parent
    if not _is_folder(destination):
        _format(destination)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        raise _not_writable(folder, NotADirectoryError(errno.ENOTDIR, "Not a directory"))
    try:
        with tempfile.TemporaryFile(prefix=_TEMP_PREFIX, dir=existing):
            pass
    except OSError as exc:
        raise _not_writable(folder, exc) from exc


def _candidates(destination: Path, seed: int) -> Iterator[Path]:
    if _is_folder(destination):
        numbers = [int(m.group(1)) for m in map(_NUMBERED.match, os.listdir(destination)) if m]
        start = max(numbers, default=0) + 1
        for n in range(start, start + _MAX_TRIES):
            yield destination / f"{n:05d}-{seed}.png"
        return
    yield destination
    for n in range(1, _MAX_TRIES):
        yield destination.with_name(f"{destination.stem}-{n}{destination.suffix}")


def _clear_stale_temporaries(folder: Path) -> None:
    cutoff = time.time() - _STALE_SECONDS
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if entry.name.startswith(_TEMP_PREFIX) and entry.name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)


def _plain_file_mode(folder: Path) -> int:
    """The permissions a plain new file gets here (mkstemp makes its file private, 0600)."""
    probe = folder / f"{_TEMP_PREFIX}{secrets.token_hex(8)}.tmp"
    with open(probe, "xb"):
        pass
    try:
        return probe.stat().st_mode
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def _write(file, image: Image.Image, infotext: str, request: GenerationRequest, fmt: str) -> None:
    if fmt == "PNG":
        write_png(file, image, infotext, request)
        return
    exif = Image.Exif()
    exif.get_ifd(_EXIF_IFD)[_USER_COMMENT] = b"UNICODE\0" + infotext.encode("utf-16-be")
    image.convert("RGB").save(file, format=fmt, quality=95, exif=exif.tobytes())


def _link_to_free_name(temp: str, names: Iterator[Path]) -> Path:
    """Hard-link `temp` to the first free name; falls back to reserve-and-rename without hard links."""
    for name in names:
        try:
            os.link(temp, name)
            return name
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
                raise
            if _reserve(name):
                os.replace(temp, name)
                return name
    raise LdmError("Cannot find a free file name to save the image under.")


def save_png_atomic(
    image: Image.Image,
    infotext: str,
    request: GenerationRequest,
    destination: str | Path,
    *,
    seed: int | None = None,
) -> Path:
    """Save `image` with its parameters as a new file; returns the path actually written.

    `destination` is a file name (.png, .jpg, .jpeg or .webp; a free numbered variant is chosen if it
    exists) or a folder (PNG files numbered `00001-<seed>.png`, with `seed` defaulting to the request's).
    The request stored with the image is the batch-of-one request of the image `seed` names (seed + i of
    a batch), so reopening it makes that image again.
    """
    if seed is not None:
        request = request.for_seed(seed)
    destination = Path(destination).expanduser()
    folder = destination if _is_folder(destination) else destination.parent
    fmt = "PNG" if _is_folder(destination) else _format(destination)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _not_writable(folder, exc) from exc
    _clear_stale_temporaries(folder)
    temp = None
    try:
        mode = _plain_file_mode(folder)
        fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as file:
            _write(file, image, infotext, request, fmt)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, mode)
        target = _link_to_free_name(temp, _candidates(destination, request.seed if seed is None else seed))
        _sync_folder(folder)
        return target
    except OSError as exc:
        raise LdmError(f"Could not save the image in {folder}: {exc.strerror or exc}") from exc
    finally:
        # The temporary name goes in every case: after the link the file lives on under its real name.
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)


def _sync_folder(folder: Path) -> None:
    # The new name itself is durable only once the folder's entry is on disk (POSIX; not on Windows).
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
