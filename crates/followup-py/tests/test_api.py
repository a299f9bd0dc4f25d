"""The surface of multiprocessing.pool.ThreadPool: names, arguments, defaults, return types."""

import multiprocessing
import multiprocessing.pool
import operator
import os
import pickle
import threading
import time
import types

import pytest

import followup
from conftest import WAIT


def sqr(x, wait=0.0):
    time.sleep(wait)
    return x * x


def test_every_public_method_of_pythons_pool_exists():
    public = {n for n in dir(multiprocessing.pool.ThreadPool) if not n.startswith("_")}
    public -= {"Process"}  # a process factory, meaningless for a thread pool
    assert public <= set(dir(followup.ThreadPool))
    for name in ["__enter__", "__exit__", "__repr__", "__reduce__", "__del__"]:
        assert hasattr(followup.ThreadPool, name)


def test_apply_and_apply_async(pool):
    assert pool.apply(sqr, (5,)) == 25
    assert pool.apply(sqr, (), {"x": 3}) == 9
    r = pool.apply_async(sqr, (7,))
    assert isinstance(r, followup.AsyncResult)
    assert r.get(timeout=WAIT) == 49
    assert r.get(timeout=WAIT) == 49  # repeatable
    assert r.ready() and r.successful()
    assert r.wait(WAIT) is None  # Python's wait returns None


def test_args_may_be_any_iterable_and_kwds_any_mapping(pool):
    assert pool.apply(pow, [2, 5]) == 32
    assert pool.apply(dict, (), types.MappingProxyType({"a": 1})) == {"a": 1}


def test_argument_errors_surface_from_get_as_in_python(pool):
    r = pool.apply_async(sqr, 5)  # not iterable: Python raises it in the worker
    with pytest.raises(TypeError):
        r.get(timeout=WAIT)
    r = pool.apply_async(42)  # not callable
    with pytest.raises(TypeError):
        r.get(timeout=WAIT)


def test_get_timeout_raises_multiprocessing_timeout_error_and_the_task_goes_on(pool):
    ev = threading.Event()
    r = pool.apply_async(ev.wait, (WAIT,))
    with pytest.raises(multiprocessing.TimeoutError):
        r.get(timeout=0.01)
    assert not r.ready()
    with pytest.raises(ValueError, match="not ready"):
        r.successful()
    ev.set()
    assert r.get(timeout=WAIT) is True


def test_odd_timeouts(pool):
    r = pool.apply_async(sqr, (2,))
    assert r.get(timeout=1e300) == 4  # too large for the clock: no limit
    assert r.get(timeout=-1) == 4  # ready: a negative timeout still reads it
    ev = threading.Event()
    slow = pool.apply_async(ev.wait, (WAIT,))
    with pytest.raises(multiprocessing.TimeoutError):
        slow.get(timeout=-5)
    with pytest.raises(ValueError):
        slow.get(timeout=float("nan"))
    ev.set()
    slow.get(timeout=WAIT)


def test_map_starmap_and_their_async_forms(pool):
    assert pool.map(sqr, range(10)) == [x * x for x in range(10)]
    assert pool.map(sqr, range(100), chunksize=20) == [x * x for x in range(100)]
    assert pool.map(sqr, (x for x in range(5))) == [0, 1, 4, 9, 16]
    pairs = list(zip(range(10), range(9, -1, -1)))
    assert pool.starmap(operator.mul, pairs) == [a * b for a, b in pairs]
    assert pool.starmap_async(operator.mul, pairs).get(timeout=WAIT) == [a * b for a, b in pairs]
    assert pool.map_async(sqr, [1, 2]).get(timeout=WAIT) == [1, 4]


def test_chunksize_below_one_is_an_error(pool):
    for c in (0, -1):
        with pytest.raises(ValueError, match="Chunksize must be 1\\+"):
            pool.map(sqr, [1, 2, 3], chunksize=c)
        with pytest.raises(ValueError, match="Chunksize must be 1\\+"):
            pool.imap(sqr, [1, 2, 3], chunksize=c)


def test_empty_input_calls_the_callback_with_an_empty_list(pool):
    got = []
    r = pool.map_async(sqr, [], callback=got.append)
    assert r.get(timeout=WAIT) == []
    assert got == [[]]


def test_imap_in_order_and_unordered(pool):
    assert list(pool.imap(sqr, range(10))) == [x * x for x in range(10)]
    assert list(pool.imap(sqr, range(1000), chunksize=100)) == [x * x for x in range(1000)]
    assert sorted(pool.imap_unordered(sqr, range(1000), chunksize=7)) == [x * x for x in range(1000)]
    it = pool.imap(sqr, [1, 2])
    assert iter(it) is it
    assert it.next(timeout=WAIT) == 1
    assert next(it) == 4
    with pytest.raises(StopIteration):
        it.next(timeout=WAIT)


def test_imap_next_timeout_keeps_the_iterator_usable(pool):
    ev = threading.Event()
    it = pool.imap(ev.wait, [WAIT], chunksize=3)  # next(timeout) works for any chunk size
    with pytest.raises(multiprocessing.TimeoutError):
        it.next(timeout=0.01)
    ev.set()
    assert it.next(timeout=WAIT) is True


def test_processes_validation():
    for bad in (0, -1):
        with pytest.raises(ValueError, match="Number of processes must be at least 1"):
            followup.ThreadPool(bad)
    with pytest.raises(TypeError):
        followup.ThreadPool("2")
    with pytest.raises(TypeError, match="initializer must be a callable"):
        followup.ThreadPool(1, initializer=3)
    p = followup.ThreadPool()
    assert len(p._pool) == (os.cpu_count() or 1)
    p.close()
    p.join()


def test_initializer_runs_once_per_worker_before_tasks():
    seen = []
    lock = threading.Lock()

    def init(tag):
        with lock:
            seen.append((tag, threading.get_ident()))

    p = followup.ThreadPool(3, initializer=init, initargs=("x",))
    assert len(seen) == 3 and {t for t, _ in seen} == {"x"}
    idents = {i for _, i in seen}
    ran_on = set(p.map(lambda _: threading.get_ident(), range(50), chunksize=1))
    assert ran_on <= idents
    p.close()
    p.join()


def test_an_initializer_that_raises_fails_the_constructor():
    def init():
        raise OSError("no database")

    with pytest.raises(OSError, match="no database"):
        followup.ThreadPool(2, initializer=init)


def test_state_repr_and_pool_list():
    p = followup.ThreadPool(2)
    assert p._state == multiprocessing.pool.RUN == followup.RUN
    assert repr(p) == "<followup.pool.ThreadPool state=RUN pool_size=2>"
    assert len(p._pool) == 2 and all(w.is_alive() for w in p._pool)
    p.close()
    assert p._state == "CLOSE"
    p.join()
    assert not any(w.is_alive() for w in p._pool)
    p.terminate()
    assert p._state == "TERMINATE"


def test_pools_cannot_be_pickled(pool):
    with pytest.raises(NotImplementedError, match="cannot be passed between processes or pickled"):
        pickle.dumps(pool)


def test_context_manager_terminates_like_python():
    with followup.ThreadPool(1) as p:
        assert p.apply(sqr, (3,)) == 9
    assert p._state == "TERMINATE"
    with pytest.raises(ValueError, match="Pool not running"):
        with p:
            pass
    p.join()


def test_submissions_after_close_or_terminate_from_outside_are_refused():
    p = followup.ThreadPool(1)
    p.close()
    for submit in (
        lambda: p.apply_async(sqr, (1,)),
        lambda: p.apply(sqr, (1,)),
        lambda: p.map(sqr, [1]),
        lambda: p.map_async(sqr, [1]),
        lambda: p.starmap(pow, [(1, 1)]),
        lambda: p.starmap_async(pow, [(1, 1)]),
        lambda: p.imap(sqr, [1]),
        lambda: p.imap_unordered(sqr, [1]),
    ):
        with pytest.raises(ValueError, match="Pool not running"):
            submit()
    p.join()


def test_join_while_running_is_an_error_and_join_is_repeatable():
    p = followup.ThreadPool(1)
    with pytest.raises(ValueError, match="Pool is still running"):
        p.join()
    p.close()
    p.join()
    p.join()


def test_join_from_a_task_is_refused_instead_of_deadlocking():
    q = followup.ThreadPool(2)
    res = q.apply_async(lambda: (q.close(), q.join()))
    with pytest.raises(RuntimeError, match="own threads"):
        res.get(timeout=WAIT)
    q.join()


def test_generic_alias():
    assert followup.AsyncResult[int].__origin__ is followup.AsyncResult
    assert followup.ApplyResult is followup.MapResult is followup.AsyncResult


def test_a_garbage_collected_running_pool_warns():
    import gc
    import warnings

    p = followup.ThreadPool(1)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        del p
        gc.collect()
    assert any(issubclass(x.category, ResourceWarning) for x in w)


def test_stats_count_the_engines_jobs_once_the_pool_is_quiet():
    pool = followup.ThreadPool(2)
    assert [pool.apply_async(abs, (-i,)).get(WAIT) for i in range(5)] == list(range(5))
    assert pool.map(abs, range(8), chunksize=4) == list(range(8))
    pool.close()
    pool.join()
    s = pool.stats()
    # 5 tasks and 2 map chunks: every one ran, none is left.
    assert (s["submitted"], s["completed"], s["queued"], s["running"]) == (7, 7, 0, 0), s
    assert (s["panicked"], s["cancelled"]) == (0, 0), s
    assert len(s["workers"]) == 2
    assert sum(w["executed"] for w in s["workers"]) == 7, s
    assert set(s["workers"][0]) == {"executed", "steals", "parks"}
