"""A one-line progress bar for the command line: steps, speed and time left, redrawn in place with \\r.

Plain text on stderr (stdout stays free for the saved file names), no dependencies.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

_BAR_WIDTH = 24


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


def _speed(steps_per_second: float) -> str:
    # Below one step a second (big models on a CPU) "s/it" is the readable unit.
    if steps_per_second >= 1.0:
        return f"{steps_per_second:.2f} it/s"
    return f"{1.0 / steps_per_second:.2f} s/it"


class ProgressBar:
    """`update(step)` after each step, `close()` at the end (or use it as a context manager)."""

    def __init__(
        self,
        total: int,
        stream: TextIO | None = None,
        *,
        label: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = max(int(total), 0)
        self.stream = sys.stderr if stream is None else stream
        self.label = label
        self._clock = clock
        self._start = clock()
        self._step = 0
        self._width = 0  # length of the last line drawn, to wipe leftovers of a longer one
        self._closed = False

    def line(self) -> str:
        """The text for the current state (without the leading \\r)."""
        step, total = self._step, self.total
        filled = _BAR_WIDTH * step // total if total else _BAR_WIDTH
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        elapsed = self._clock() - self._start
        if step > 0 and elapsed > 0:
            rate = step / elapsed
            timing = f"{_speed(rate)}, {_duration(elapsed)} elapsed, ETA {_duration((total - step) / rate)}"
        else:
            timing = "?, ETA ?"
        prefix = f"{self.label}: " if self.label else ""
        return f"{prefix}{step:>{len(str(total))}}/{total} [{bar}] {timing}"

    def update(self, step: int) -> None:
        """Show that `step` of `total` steps are done."""
        if self._closed:
            return
        self._step = min(max(int(step), 0), self.total) if self.total else max(int(step), 0)
        text = self.line()
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def close(self) -> None:
        """End the line so the next output starts on a fresh one."""
        if self._closed:
            return
        self._closed = True
        if self._width:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
