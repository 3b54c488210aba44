"""JSON from files we did not write (PNG chunks, safetensors headers, settings): every way it can be
hostile becomes one ValueError with a reason, never a RecursionError or an infinite number.

Python's parser recurses once per nesting level, so a document nested 100,000 deep raises
RecursionError; integers longer than 4,300 digits raise ValueError; `NaN`, `Infinity` and `1e999` parse
to non-finite floats. Torch-free: the GUI imports it.
"""

from __future__ import annotations

import json
import math
from typing import Any


class JsonError(ValueError):
    """Text that is not JSON we accept; the message says why, in words for the user."""


class JsonTooDeep(JsonError):
    """Nested deeper than the parser can follow: never written by a real tool, so refused outright."""


def _no_constant(name: str) -> Any:
    raise JsonError(f"it holds {name}, which is not a number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonError(f"it holds the number {text[:20]}, which is too large")
    return value


def loads(text: str | bytes, *, finite: bool = True) -> Any:
    """`json.loads` that raises only JsonError: too deep, too long a number, not JSON, and (unless
    `finite=False`, for formats whose writers emit NaN) a non-finite number."""
    strict = {"parse_constant": _no_constant, "parse_float": _finite_float} if finite else {}
    try:
        return json.loads(text, **strict)
    except JsonError:
        raise
    except RecursionError:
        raise JsonTooDeep("it is nested too deeply") from None
    except UnicodeDecodeError:
        raise JsonError("it is not UTF-8 text") from None
    except ValueError as exc:  # JSONDecodeError, or an integer of too many digits
        if "digits" in str(exc):
            raise JsonError("it holds a number with too many digits") from None
        raise JsonError("it is not valid JSON") from None
