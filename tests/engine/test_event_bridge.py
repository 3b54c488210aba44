"""Events from callback-style work arrive in order, errors cross over, and closing stops the work."""

import threading

import pytest

from ldm_studio.engine.event_bridge import WorkAbandoned, run_with_events


def _drain(gen):
    events = []
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        return events, stop.value


def test_events_arrive_in_order_then_the_result():
    def work(emit, abandoned):
        for i in range(5):
            emit(i)
        return "done"

    events, result = _drain(run_with_events(work))
    assert events == [0, 1, 2, 3, 4]
    assert result == "done"


def test_an_error_in_the_work_is_raised_to_the_consumer():
    def work(emit, abandoned):
        emit("first")
        raise ValueError("bad mask")

    gen = run_with_events(work)
    assert next(gen) == "first"
    with pytest.raises(ValueError, match="bad mask"):
        next(gen)


def test_closing_the_generator_tells_the_work_to_stop_and_waits_for_it():
    stopped = threading.Event()

    def work(emit, abandoned):
        try:
            for i in range(10_000):
                if abandoned.is_set():
                    raise WorkAbandoned
                emit(i)
                abandoned.wait(0.001)
        finally:
            stopped.set()

    gen = run_with_events(work)
    assert next(gen) == 0
    gen.close()
    assert stopped.is_set()
