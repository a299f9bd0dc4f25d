"""Where callbacks run: one at a time, off the workers, before the result is ready (Python's
rules), or on the workers with parallel_callbacks=True."""

import threading
import time

import followup
from conftest import WAIT


def worker_ident():
    return threading.get_ident()


def test_callbacks_run_one_at_a_time_on_one_thread_off_the_workers():
    pool = followup.ThreadPool(4)
    workers = set(pool.map(lambda _: (time.sleep(0.01), threading.get_ident())[1], range(40), chunksize=1))
    active = [0]
    peak = [0]
    threads = set()
    lock = threading.Lock()
    appended = []

    def callback(v):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        threads.add(threading.get_ident())
        appended.append(v)  # no lock: Python's serialisation makes this safe
        time.sleep(0.001)
        with lock:
            active[0] -= 1

    rs = [pool.apply_async(abs, (-i,), callback=callback) for i in range(200)]
    for r in rs:
        r.get(timeout=WAIT)
    pool.close()
    pool.join()
    assert peak[0] == 1
    assert len(threads) == 1 and not threads & workers
    assert threads != {threading.main_thread().ident}
    assert sorted(appended) == list(range(200))


def test_the_callback_has_run_before_the_result_is_ready():
    pool = followup.ThreadPool(2)
    side = []

    def slow_callback(v):
        time.sleep(0.1)
        side.append(v)

    r = pool.apply_async(abs, (-3,), callback=slow_callback)
    assert r.get(timeout=WAIT) == 3
    assert side == [3]
    pool.close()
    pool.join()


def test_parallel_callbacks_run_on_the_completing_worker():
    pool = followup.ThreadPool(2, parallel_callbacks=True)
    where = []
    r = pool.apply_async(worker_ident, callback=lambda v: where.append((v, threading.get_ident())))
    r.get(timeout=WAIT)
    assert where[0][0] == where[0][1]
    pool.close()
    pool.join()


def test_waiting_on_a_result_inside_a_callback_does_not_deadlock_the_pool():
    # In Python this always times out: the result can only be delivered by the blocked thread.
    pool = followup.ThreadPool(2)
    inner = []

    def callback(v):
        inner.append(pool.apply_async(abs, (-v,)).get(timeout=WAIT))

    pool.apply_async(abs, (-7,), callback=callback).get(timeout=WAIT)
    assert inner == [7]
    pool.close()
    pool.join()
