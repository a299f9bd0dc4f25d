"""The follow-up contract: the tutorial's close-too-early trap is gone, join() waits for the
whole follow-up tree, terminate() resolves everything."""

import threading
import time

import pytest

import followup
from conftest import WAIT, occupy


def test_follow_ups_from_callbacks_after_close_run_and_join_waits_for_them():
    done = []
    pool = followup.ThreadPool(2)

    def step(n):
        return n

    def callback(n):
        done.append(n)
        if n < 20:
            pool.apply_async(step, (n + 1,), callback=callback)  # after close(): accepted

    pool.apply_async(step, (0,), callback=callback)
    pool.close()
    pool.join()
    assert done == list(range(21))


def test_follow_ups_from_map_async_callback_after_an_early_close():
    results = []
    lock = threading.Lock()
    pool = followup.ThreadPool(2)

    def task2(i, v):
        with lock:
            results.append((i, v))

    def result_callback(pairs):
        for i, v in pairs:
            if v > 5:
                pool.apply_async(task2, (i, v))

    pool.map_async(lambda i: (i, i), range(10), callback=result_callback)
    pool.close()  # the trap: in Python the callback's apply_async now raises
    pool.join()
    assert sorted(results) == [(i, i) for i in range(6, 10)]


def test_a_fan_out_tree_issued_from_tasks_after_close_is_awaited():
    pool = followup.ThreadPool(2)
    count = []
    lock = threading.Lock()

    def node(depth):
        with lock:
            count.append(depth)
        if depth < 5:
            for _ in range(2):
                pool.apply_async(node, (depth + 1,))

    pool.apply_async(node, (0,))
    pool.close()
    pool.join()
    assert len(count) == 2**6 - 1


def test_submissions_from_another_pools_task_after_close_are_refused():
    a = followup.ThreadPool(1)
    b = followup.ThreadPool(1)
    b.close()
    r = a.apply_async(lambda: b.apply_async(abs, (1,)))
    with pytest.raises(ValueError, match="Pool not running"):
        r.get(timeout=WAIT)
    for p in (a, b):
        p.terminate()
        p.join()


def test_terminate_resolves_queued_work_with_pool_terminated_and_tells_error_callbacks():
    pool = followup.ThreadPool(1)
    gate, (running,) = occupy(pool, 1)
    told = []
    queued = [pool.apply_async(abs, (-i,), error_callback=told.append) for i in range(5)]
    mapped = pool.map_async(abs, range(100), chunksize=1)
    pool.terminate()
    gate.set()
    for r in queued:
        with pytest.raises(followup.PoolTerminated):
            r.get(timeout=WAIT)
    with pytest.raises(followup.PoolTerminated):
        mapped.get(timeout=WAIT)
    assert running.get(timeout=WAIT) is True
    pool.join()
    assert len(told) == 5 and all(isinstance(e, followup.PoolTerminated) for e in told)
    import concurrent.futures

    assert issubclass(followup.PoolTerminated, concurrent.futures.CancelledError)


def test_terminate_from_a_callback_and_close_from_a_task_work():
    pool = followup.ThreadPool(2)
    r = pool.apply_async(abs, (-1,), callback=lambda v: pool.terminate())
    assert r.get(timeout=WAIT) == 1
    pool.join()
    q = followup.ThreadPool(2)
    assert q.apply_async(q.close).get(timeout=WAIT) is None
    q.join()


def test_a_follow_up_issued_on_a_worker_starts_before_older_queued_input():
    pool = followup.ThreadPool(1)
    order = []

    def first():
        pool.apply_async(order.append, ("follow-up",))
        return "first"

    pool.apply_async(first)
    for i in range(20):
        pool.apply_async(order.append, (i,))
    pool.close()
    pool.join()
    assert order.index("follow-up") < 20  # Python: always last


def test_tasks_that_wait_for_their_own_follow_ups_do_not_deadlock_a_small_pool():
    # In Python's pool, 2 workers that both wait on nested tasks deadlock; here a task that
    # waits for a task still queued runs it itself.
    pool = followup.ThreadPool(2)

    def fib(n):
        if n < 2:
            return n
        a = pool.apply_async(fib, (n - 1,))
        b = pool.apply_async(fib, (n - 2,))
        return a.get(timeout=WAIT) + b.get(timeout=WAIT)

    assert pool.apply_async(fib, (15,)).get(timeout=WAIT) == 610
    assert pool.apply(lambda: pool.apply(abs, (-3,))) == 3
    pool.close()
    pool.join()
