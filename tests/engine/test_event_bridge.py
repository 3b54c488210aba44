"""Events from callback-style work arrive in order, errors cross over, and closing stops the work."""

import gc
import threading
import weakref

import pytest

from ldm_studio.engine.pipelines.event_bridge import WorkAbandoned, run_with_events


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


def _thread_name_and_id(emit, abandoned):
    return threading.current_thread().name, threading.get_ident()


def test_runs_one_after_another_share_a_helper_thread_and_overlapping_runs_get_their_own():
    _, first = _drain(run_with_events(_thread_name_and_id))
    _, second = _drain(run_with_events(_thread_name_and_id))
    assert first == second and first[0] == "ldm-studio-sampler" and first[1] != threading.get_ident()

    def nested(emit, abandoned):  # a run whose work waits on another run
        return _drain(run_with_events(_thread_name_and_id))[1]

    _, (inner_name, inner) = _drain(run_with_events(nested))
    assert inner_name == "ldm-studio-sampler" and inner != first[1]


def test_an_idle_helper_thread_keeps_nothing_of_the_last_run_alive():
    class Model:  # stands in for gigabytes of weights the work closed over
        pass

    model = Model()
    alive = weakref.ref(model)

    def work(emit, abandoned, model=model):
        emit(type(model).__name__)
        return "done"

    assert _drain(run_with_events(work)) == (["Model"], "done")
    del model, work
    gc.collect()
    assert alive() is None
