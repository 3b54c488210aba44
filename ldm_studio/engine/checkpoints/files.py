"""Reading checkpoint files: names, shapes and dtypes first, tensors only when asked, and the A1111 hash.

Two formats, told apart by their first bytes rather than by the file name:
- `.safetensors`: the header is parsed here (so `inspect` reads no tensor and a truncated download is
  caught before anything else), tensors come memory-mapped from `safetensors.safe_open`.
- PyTorch pickles (`.ckpt`, `.pt`, `.pth`, `.bin`): only ever `torch.load(weights_only=True)`, memory-mapped
  for the zip format. Pickled code never runs: a file that needs it gets a CheckpointError.

Tensors handed out are copy-on-write views of the file: writing to them never changes the user's file.
"""

from __future__ import annotations

import ctypes
import functools
import os
import pickle
import re
import struct
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ldm_studio.engine import json_text
from ldm_studio.engine.errors import CheckpointError

SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
}
_MAX_HEADER_BYTES = 100 * 2**20  # safetensors' own limit; anything larger is not a header
_ZIP_MAGIC = b"PK\x03\x04"
# Other things people point the app at by mistake, so the error can say what the file is.
_KNOWN_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"RIFF": "a WebP image or other RIFF file",
    b"<!DO": "an HTML page, perhaps a failed download",
    b"<htm": "an HTML page, perhaps a failed download",
    b"version https://git-lfs": "a Git LFS pointer, not the weights (run `git lfs pull`)",
    b"{": "a JSON file",
}
# Training bookkeeping pickled into many original SD .ckpt files: harmless, but not on torch's allowlist.
_HARMLESS_PICKLED_CLASSES = ("pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint",)


@dataclass(frozen=True)
class TensorInfo:
    shape: tuple[int, ...]
    dtype: torch.dtype
    offset: int = field(default=-1, compare=False)  # safetensors: where its bytes start in the file

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass
class CheckpointReader:
    """An open checkpoint: every tensor's shape and dtype, and `tensor(name)` to read one (lazily)."""

    path: Path
    format: str  # "safetensors" or "torch"
    file_size: int
    tensors: dict[str, TensorInfo]
    metadata: dict[str, str] = field(default_factory=dict)  # safetensors `__metadata__`
    _loaded: Mapping[str, torch.Tensor] | None = None  # torch files: the (mmapped) state dict
    _handle: object | None = None  # safetensors: the safe_open handle, opened on first use
    _mapped: tuple[int, int] | None = None  # safetensors: [start, end) addresses of the file's mapping

    def tensor(self, name: str) -> torch.Tensor:
        """The tensor `name` on the CPU in the file's dtype, memory-mapped where the format allows."""
        if self._loaded is not None:
            return self._loaded[name]
        if self._handle is None:
            from safetensors import safe_open

            try:
                self._handle = safe_open(str(self.path), framework="pt", device="cpu")
            except Exception as exc:
                raise CheckpointError(f"{self.path.name}: cannot read the safetensors file: {exc}") from None
        tensor = self._handle.get_tensor(name)
        offset = self.tensors[name].offset
        if self._mapped is None and offset >= 0 and tensor.numel():
            # safe_open maps the whole file once; every tensor is a slice of that mapping.
            start = tensor.data_ptr() - offset
            self._mapped = (start, start + self.file_size)
        return tensor

    def release(self, tensor: torch.Tensor) -> None:
        """Drop this process's resident pages of `tensor`, one this reader handed out and nobody reads
        again (a converted copy of it is what the net keeps).

        The file's mapping otherwise keeps every page read resident until the file is closed: during an
        fp16 file's fp32 load, a second copy of the weights (the whole file) on top of the fp32 nets.
        Only pages wholly inside the tensor's bytes go, so a neighbour that stays mapped keeps its pages;
        the file is never written through the mapping, so a page read again comes back from the file
        (the page cache) unchanged. Linux only (madvise MADV_DONTNEED); a no-op elsewhere.
        """
        if self._mapped is None or not sys.platform.startswith("linux") or not tensor.is_contiguous():
            return
        begin = tensor.data_ptr()
        end = begin + tensor.numel() * tensor.element_size()
        if not (self._mapped[0] <= begin and end <= self._mapped[1]):
            return  # not memory of this file's mapping: never touch it
        page = os.sysconf("SC_PAGE_SIZE")
        first, last = -(-begin // page) * page, end // page * page
        if last > first:
            _libc().madvise(ctypes.c_void_p(first), ctypes.c_size_t(last - first), _MADV_DONTNEED)

    def close(self) -> None:
        # Tensors already handed out keep their own reference to the mapping; this only drops ours.
        self._handle = None
        self._loaded = None
        self._mapped = None


_MADV_DONTNEED = 4  # Linux


@functools.cache
def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None)
    libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    return libc


@contextmanager
def open_checkpoint(path: str | Path) -> Iterator[CheckpointReader]:
    """Open a checkpoint for reading; a bad file raises CheckpointError naming it and what is wrong."""
    reader = read_checkpoint(path)
    try:
        yield reader
    finally:
        reader.close()


def read_checkpoint(path: str | Path) -> CheckpointReader:
    """A reader for `path`. Safetensors: header only; torch files: the state dict, memory-mapped."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(32)  # enough for the longest magic in _KNOWN_MAGIC
    kind = _sniff_format(head, size)
    if kind == "safetensors":
        tensors, metadata = read_safetensors_header(path)
        return CheckpointReader(path, "safetensors", size, tensors, metadata)
    if kind == "torch":
        state = _torch_state_dict(path, zipped=head.startswith(_ZIP_MAGIC))
        tensors = {k: TensorInfo(tuple(v.shape), v.dtype) for k, v in state.items()}
        return CheckpointReader(path, "torch", size, tensors, {}, _loaded=state)
    what = next((desc for magic, desc in _KNOWN_MAGIC.items() if head.startswith(magic)), None)
    hint = f" (it looks like {what})" if what else ""
    raise CheckpointError(
        f"{path.name} is not a checkpoint: it is neither a safetensors file nor a PyTorch file{hint}"
    )


def _sniff_format(head: bytes, size: int) -> str | None:
    if head.startswith(_ZIP_MAGIC) or head[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"):
        return "torch"  # zip archive (torch >= 1.6) or a bare pickle (older torch.save)
    if len(head) >= 9 and head[8:9] == b"{":
        (n,) = struct.unpack("<Q", head[:8])
        if 2 <= n <= _MAX_HEADER_BYTES:
            return "safetensors"  # may still be truncated: read_safetensors_header says so
    return None


def read_safetensors_header(path: Path) -> tuple[dict[str, TensorInfo], dict[str, str]]:
    """Names, shapes and dtypes of a safetensors file, checked against the file size. Reads no tensor."""
    size = path.stat().st_size
    with path.open("rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        raw = f.read(n)
    if len(raw) < n:
        raise CheckpointError(
            f"{path.name} is truncated: its header alone should be {n:,} bytes but the file has {size:,}"
        )
    try:
        # Hostile headers (nested 100,000 deep, 5,000-digit or infinite numbers) are damage, not a crash.
        header = json_text.loads(raw)
    except json_text.JsonError as exc:
        reason = str(exc).removeprefix("it ")
        raise CheckpointError(
            f"{path.name} is damaged, not a safetensors file we can read: its header {reason}"
        ) from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path.name} is damaged: its safetensors header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{path.name} is damaged: its safetensors __metadata__ is not a JSON object")
    tensors: dict[str, TensorInfo] = {}
    data_end = 0
    try:
        for name, entry in header.items():
            dtype = SAFETENSORS_DTYPES[entry["dtype"]]
            begin, end = (_count(o) for o in entry["data_offsets"])
            info = TensorInfo(tuple(_count(d) for d in entry["shape"]), dtype, 8 + n + begin)
            if end - begin != info.numel * dtype.itemsize:
                raise ValueError(name)
            tensors[name] = info
            data_end = max(data_end, end)
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(
            f"{path.name} is damaged: its safetensors header has a malformed entry"
        ) from None
    available = size - 8 - n
    if data_end > available:
        raise CheckpointError(
            f"{path.name} is truncated: it should hold {data_end:,} bytes of tensor data but has "
            f"{max(available, 0):,} (an interrupted download? download it again)"
        )
    return tensors, {str(k): str(v) for k, v in metadata.items()}


def _count(value: object) -> int:
    """A dimension or byte offset: a non-negative integer (not 2.5, -1, true or "3")."""
    if type(value) is not int or value < 0:
        raise ValueError(value)
    return value


def _torch_state_dict(path: Path, *, zipped: bool) -> dict[str, torch.Tensor]:
    """The tensors of a PyTorch checkpoint, through the weights-only unpickler (never runs pickled code)."""
    harmless = [(_PickledStub, name) for name in _HARMLESS_PICKLED_CLASSES]
    try:
        with torch.serialization.safe_globals(harmless):
            # mmap needs the zip format; older bare pickles are read into memory.
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=zipped)
    except pickle.UnpicklingError as exc:
        # torch words the refusal differently across versions: "Unsupported global: GLOBAL x.y" (2.4-2.6),
        # "Trying to load unsupported GLOBAL posix.system whose module posix is blocked" (2.13).
        text = str(exc)
        found = re.search(r"(?i)unsupported global:? (?:GLOBAL )?(\S+)", text)
        if found or "Weights only load failed" in text:
            what = f"the Python object {found.group(1).rstrip('.,')}" if found else "Python objects"
            raise CheckpointError(
                f"{path.name} holds code ({what}) that only unsafe unpickling would run, so it was "
                "refused and nothing in it ran; "
                "convert it to .safetensors with a tool you trust, or use a .safetensors download"
            ) from None
        raise CheckpointError(f"{path.name} is not a PyTorch checkpoint, or it is damaged") from None
    except Exception as exc:  # untrusted bytes: any parsing failure means a damaged file, never a crash
        raise CheckpointError(f"{path.name} is truncated or damaged: {_first_line(exc)}") from None
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]  # PyTorch Lightning nests the weights; the rest is training state
    tensors = (
        {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)} if isinstance(obj, Mapping) else {}
    )
    if not tensors:
        raise CheckpointError(f"{path.name} is not a checkpoint: it holds no tensors")
    return tensors


class _PickledStub:
    """Stands in for harmless training classes pickled into old checkpoints; never used."""


def _first_line(exc: BaseException) -> str:
    """The first sentence of an exception's message: torch appends paragraphs of advice."""
    text = str(exc).strip().splitlines()
    return text[0].split(". ")[0].rstrip(".") if text else type(exc).__name__
