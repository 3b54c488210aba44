"""A one-line progress bar for the command line: steps, speed and time left, redrawn in place with \\r.

tqdm draws it (redraw, padding, terminal width); the wording is ours: "2.50 it/s" and, below one
step a second (big models on a CPU), "10.00 s/it". Plain text on stderr (stdout stays free for the
saved file names). Times come from `clock`, so tests can drive it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from tqdm import tqdm

_BAR_FORMAT = "{ldm_label}{ldm_step}/{total_fmt} [{bar:24}] {ldm_timing}"


def _speed(steps_per_second: float) -> str:
    if steps_per_second >= 1.0:
        return f"{steps_per_second:.2f} it/s"
    return f"{1.0 / steps_per_second:.2f} s/it"


class _Bar(tqdm):
    """tqdm with our fields in its format: `owner` says what they read (tqdm keeps its own clock)."""

    def __init__(self, *args: Any, owner: ProgressBar, **kwargs: Any) -> None:
        self._owner = owner  # before tqdm's __init__, which draws the first line
        super().__init__(*args, **kwargs)

    @property
    def format_dict(self) -> dict[str, Any]:
        return {**super().format_dict, **self._owner.fields()}


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
        self._bar: _Bar | None = None  # made at the first update, so nothing is drawn before it
        self._closed = False

    def fields(self) -> dict[str, str]:
        """The parts of the line tqdm does not compute our way: label, step, speed and times."""
        step, total = self._step, self.total
        elapsed = self._clock() - self._start
        if step > 0 and elapsed > 0:
            rate = step / elapsed
            left = tqdm.format_interval((total - step) / rate)
            timing = f"{_speed(rate)}, {tqdm.format_interval(elapsed)} elapsed, ETA {left}"
        else:
            timing = "?, ETA ?"
        return {
            "ldm_label": f"{self.label}: " if self.label else "",
            "ldm_step": f"{step:>{len(str(total))}}",
            "ldm_timing": timing,
        }

    def update(self, step: int) -> None:
        """Show that `step` of `total` steps are done."""
        if self._closed:
            return
        self._step = min(max(int(step), 0), self.total) if self.total else max(int(step), 0)
        if self._bar is None:
            self._bar = _Bar(
                total=self.total,
                initial=self._step,
                file=self.stream,
                ascii="-#",
                bar_format=_BAR_FORMAT,
                smoothing=0,
                position=0,  # one line, always: never nested under another bar still open
                owner=self,
            )
            return
        self._bar.total = self.total
        self._bar.n = self._step
        self._bar.refresh()

    def close(self) -> None:
        """End the line so the next output starts on a fresh one."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
