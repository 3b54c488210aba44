"""The CLI progress bar: one line redrawn in place with step/total, speed and time left."""

import io

from ldm_studio.progress import ProgressBar


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_shows_steps_speed_and_eta_on_one_redrawn_line():
    stream, clock = io.StringIO(), FakeClock()
    bar = ProgressBar(20, stream, clock=clock)
    clock.now += 2.0
    bar.update(5)
    clock.now += 2.0
    bar.update(10)
    output = stream.getvalue()
    assert "\n" not in output and output.count("\r") == 2
    last = output.split("\r")[-1]
    assert last.startswith("10/20 [############------------]")
    assert "2.50 it/s" in last and "ETA 00:04" in last and "00:04 elapsed" in last


def test_slow_steps_are_shown_in_seconds_per_step_and_long_etas_in_hours():
    stream, clock = io.StringIO(), FakeClock()
    bar = ProgressBar(1000, stream, label="upscale", clock=clock)
    clock.now += 30.0
    bar.update(3)
    last = stream.getvalue().split("\r")[-1]
    assert last.startswith("upscale:    3/1000 [")
    assert "10.00 s/it" in last and "ETA 2:46:10" in last


def test_close_ends_the_line_once_and_a_shorter_redraw_wipes_the_old_text():
    stream, clock = io.StringIO(), FakeClock()
    with ProgressBar(4, stream, clock=clock) as bar:
        clock.now += 100.0
        bar.update(1)  # 0.01 it/s: long line
        first = stream.getvalue().split("\r")[-1]
        clock.now = 100.001
        bar.update(4)
        second = stream.getvalue().split("\r")[-1]
    bar.close()
    assert len(second) >= len(first)  # padded so no characters of the longer line remain
    assert stream.getvalue().endswith("\n") and stream.getvalue().count("\n") == 1
    assert second.startswith("4/4 [########################]")


def test_before_the_first_step_speed_and_eta_are_unknown():
    stream = io.StringIO()
    bar = ProgressBar(10, stream, clock=FakeClock())
    bar.update(0)
    assert stream.getvalue() == "\r 0/10 [------------------------] ?, ETA ?"
    bar.close()
    assert stream.getvalue().endswith("\n")
