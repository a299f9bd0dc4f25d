"""Exceptions: the task's own object, every time, with its traceback; callbacks that raise."""

import sys
import threading
import traceback

import pytest

import followup
from conftest import WAIT


class Boom(Exception):
    pass


def fail(tag):
    raise Boom(tag)  # the line the traceback must show


def test_get_raises_the_same_exception_object_every_time_with_its_traceback(pool):
    seen = []
    r = pool.apply_async(fail, ("x",), error_callback=seen.append)
    with pytest.raises(Boom) as first:
        r.get(timeout=WAIT)
    with pytest.raises(Boom) as second:
        r.get(timeout=WAIT)
    assert first.value is second.value is seen[0]
    assert first.value.__cause__ is None  # not wrapped, as ThreadPool's bpo-20980
    frames = traceback.extract_tb(first.value.__traceback__)
    assert any(f.name == "fail" and "raise Boom(tag)" in f.line for f in frames)
    assert r.ready() and not r.successful()


def test_base_exceptions_fail_their_own_task_and_the_worker_survives():
    p = followup.ThreadPool(1)
    r = p.apply_async(sys.exit, (3,))
    with pytest.raises(SystemExit):
        r.get(timeout=WAIT)
    assert p.apply(abs, (-1,)) == 1  # the only worker is still there
    p.close()
    p.join()


def test_a_raising_callback_becomes_the_result_and_nothing_hangs():
    p = followup.ThreadPool(2)

    def bad_callback(value):
        raise RuntimeError(f"callback saw {value}")

    r = p.apply_async(abs, (-4,), callback=bad_callback)
    with pytest.raises(RuntimeError, match="callback saw 4"):
        r.get(timeout=WAIT)
    assert not r.successful()
    # Later jobs are unaffected (in CPython the result handler thread would be dead).
    assert p.apply_async(abs, (-5,), callback=lambda v: None).get(timeout=WAIT) == 5
    p.close()
    p.join()


def test_a_raising_error_callback_keeps_the_task_error_in_its_context(pool):
    def bad_error_callback(exc):
        raise RuntimeError("error callback failed")

    r = pool.apply_async(fail, ("orig",), error_callback=bad_error_callback)
    with pytest.raises(RuntimeError, match="error callback failed") as info:
        r.get(timeout=WAIT)
    ctx = info.value.__context__
    assert isinstance(ctx, Boom) and ctx.args == ("orig",)


def test_map_raises_the_error_of_the_lowest_failing_index_after_every_chunk(pool):
    release = threading.Event()

    def f(i):
        if i == 0:
            release.wait(WAIT)
            raise Boom("index 0")
        if i == 3:
            raise Boom("index 3")
        return i

    r = pool.map_async(f, range(6), chunksize=1)
    assert not r.wait(0.05) and not r.ready()  # not fail-fast: index 0 is still running
    release.set()
    with pytest.raises(Boom, match="index 0"):
        r.get(timeout=WAIT)


def test_map_error_callback_gets_the_exception(pool):
    got = []
    pool.map_async(int, ["a"], callback=got.append, error_callback=got.append).wait(WAIT)
    assert len(got) == 1 and isinstance(got[0], ValueError)


def test_imap_task_errors_are_per_item_for_every_chunk_size(pool):
    def f(i):
        if i == 2:
            raise Boom(i)
        return i

    for chunksize in (1, 2, 5):
        it = pool.imap(f, range(5), chunksize=chunksize)
        got = []
        for _ in range(5):
            try:
                got.append(it.next(timeout=WAIT))
            except Boom:
                got.append("ERR")
        assert got == [0, 1, "ERR", 3, 4]
        with pytest.raises(StopIteration):
            it.next(timeout=WAIT)


def test_an_input_that_raises_ends_the_imap_stream_there(pool):
    def gen():
        yield 1
        yield 2
        raise Boom("input")

    it = pool.imap(abs, gen())
    assert it.next(timeout=WAIT) == 1
    assert it.next(timeout=WAIT) == 2
    with pytest.raises(Boom, match="input"):
        it.next(timeout=WAIT)
    with pytest.raises(StopIteration):
        it.next(timeout=WAIT)


def test_an_input_that_raises_makes_map_raise_at_once(pool):
    def gen():
        yield 1
        raise Boom("input")

    with pytest.raises(Boom, match="input"):
        pool.map(abs, gen())
