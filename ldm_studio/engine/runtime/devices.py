"""Where the networks run and in which precision: cuda > mps > cpu; half precision on GPUs, fp32 on CPUs."""

from __future__ import annotations

import torch

from ldm_studio.engine.errors import LdmError
from ldm_studio.engine.requests import PRECISIONS

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def choose_device(device: str | torch.device = "auto") -> torch.device:
    """The device named by `device`, or the best one available for "auto" (cuda, then mps, then cpu)."""
    if isinstance(device, torch.device):
        return device
    name = (device or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        chosen = torch.device(name)
    except RuntimeError:
        raise LdmError(f"unknown device {device!r}: use auto, cpu, cuda, cuda:N or mps") from None
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise LdmError(
                f"device {device!r} was asked for, but CUDA is not available here: use cpu or auto"
            )
        if chosen.index is not None and chosen.index >= torch.cuda.device_count():
            count = torch.cuda.device_count()
            raise LdmError(f"device {device!r} does not exist: this machine has {count} CUDA device(s)")
    elif chosen.type == "mps" and not _mps_available():
        raise LdmError(f"device {device!r} was asked for, but Apple MPS is not available here: use cpu")
    elif chosen.type not in ("cpu", "cuda", "mps"):
        raise LdmError(f"unsupported device {device!r}: use auto, cpu, cuda, cuda:N or mps")
    return chosen


def choose_dtype(device: torch.device, precision: str = "auto") -> torch.dtype:
    """The weight dtype for `precision` on `device`: "auto" is fp16 on GPUs and fp32 on CPU.

    CPU half-precision kernels are slow or missing for some ops, so CPU stays fp32 unless asked.
    """
    name = (precision or "auto").strip().lower()
    if name not in PRECISIONS:
        raise LdmError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    if name == "auto":
        return torch.float16 if device.type in ("cuda", "mps") else torch.float32
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise LdmError("bf16 was asked for, but this GPU does not support it: use fp16 or auto")
    return _DTYPES[name]


def precision_name(dtype: torch.dtype) -> str:
    """ "fp16" for torch.float16 and so on: the words the CLI and the GUI use."""
    for name, known in _DTYPES.items():
        if known == dtype:
            return name
    return str(dtype).removeprefix("torch.")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())
