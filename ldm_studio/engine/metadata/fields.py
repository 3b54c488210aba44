"""Values found in a foreign file turned into request fields: a value that does not convert is skipped."""

from __future__ import annotations

import contextlib
import math
from typing import Any


def _to_int(value: Any) -> int:
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())  # exact, even for seeds beyond float precision
    except ValueError:
        return int(float(value))  # "20.0"


def _to_float(value: Any) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {value!r}")
    return number


def convert(values: dict[str, Any], key: str, kind: type, target: dict[str, Any], field: str) -> None:
    """Copy values[key] into target[field] as int or float, skipping a value that does not convert."""
    if key not in values or isinstance(values[key], (bool, list, dict)):
        return
    with contextlib.suppress(TypeError, ValueError, OverflowError):
        target[field] = _to_int(values[key]) if kind is int else _to_float(values[key])
