"""The follow-up primitives in Python: continuations, cancellation, deadlines, the
as-completed set, task groups, fan-in, concurrent.futures and asyncio, per-item callbacks,
progress. Races are pinned by repeating them; every wait is bounded."""

import asyncio
import concurrent.futures as cf
import multiprocessing
import sys
import threading
import time

import pytest

import followup
from conftest import WAIT, occupy


def worker_idents(pool):
    return set(pool.map(lambda _: (time.sleep(0.005), threading.get_ident())[1], range(20),
                        chunksize=1))


# --- continuations -----------------------------------------------------------------------------

def test_continuations_return_results_whose_values_flow_back(pool):
    r = pool.apply_async(abs, (-3,))
    assert r.map(lambda v: v * 10).get(WAIT) == 30
    assert r.then(lambda res: res.get() + 1).get(WAIT) == 4
    assert r.when(lambda v: v > 2, lambda v: ("follow-up", v)).get(WAIT) == ("follow-up", 3)
    assert r.when(lambda v: v > 5, lambda v: "never").get(WAIT) is None
    assert r.and_then(lambda v: pool.apply_async(pow, (v, 2))).get(WAIT) == 9
    failed = pool.apply_async(int, ("x",))
    assert failed.recover(lambda exc: type(exc).__name__).get(WAIT) == "ValueError"
    assert r.recover(lambda exc: "unused").get(WAIT) == 3


def test_errors_pass_through_success_only_continuations(pool):
    failed = pool.apply_async(int, ("x",))
    ran = []
    child = failed.map(lambda v: ran.append(v)).map(lambda v: ran.append(v))
    with pytest.raises(ValueError):
        child.get(WAIT)
    assert ran == []
    assert isinstance(failed.then(lambda res: res.successful()).get(WAIT), bool)


def test_continuations_run_as_tasks_on_the_workers():
    pool = followup.ThreadPool(2)
    workers = worker_idents(pool)
    where = pool.apply_async(abs, (-1,)).map(lambda _: threading.get_ident()).get(WAIT)
    assert where in workers
    pool.close()
    pool.join()


def test_and_then_refuses_a_function_that_does_not_issue_a_task(pool):
    with pytest.raises(TypeError, match="must return an AsyncResult"):
        pool.apply_async(abs, (-1,)).and_then(lambda v: v + 1).get(WAIT)


def test_close_and_join_wait_for_a_long_chain_of_continuations():
    pool = followup.ThreadPool(2)
    r = pool.apply_async(abs, (0,))
    for _ in range(50):
        r = r.map(lambda v: v + 1)
    pool.close()
    pool.join()
    assert r.ready() and r.get(0) == 50


def test_continuations_from_outside_after_close_are_refused():
    pool = followup.ThreadPool(1)
    r = pool.apply_async(abs, (-1,))
    pool.close()
    with pytest.raises(ValueError, match="Pool not running"):
        r.map(abs)
    pool.join()


# --- cancellation -------------------------------------------------------------------------------

def test_cancel_work_that_has_not_started_and_its_follow_ups():
    pool = followup.ThreadPool(1)
    gate, (blocker,) = occupy(pool, 1)
    told = []
    ran = []
    queued = pool.apply_async(ran.append, (1,), error_callback=told.append)
    child = queued.map(lambda v: ran.append(2))
    assert queued.cancel() is True
    assert queued.cancelled()
    queued.wait(WAIT)  # ready once its error callback (told of the cancellation) has run
    assert queued.ready() and not queued.successful()
    with pytest.raises(cf.CancelledError):
        queued.get(WAIT)
    with pytest.raises(cf.CancelledError):
        child.get(WAIT)
    gate.set()
    blocker.get(WAIT)
    pool.close()
    pool.join()
    assert ran == [] and len(told) == 1 and isinstance(told[0], cf.CancelledError)
    assert queued.cancel() is False  # once


def test_cancel_asks_running_work_to_stop():
    pool = followup.ThreadPool(1)
    started = threading.Event()

    def long_task():
        started.set()
        deadline = time.monotonic() + WAIT
        while not followup.is_cancelled():
            if time.monotonic() > deadline:
                return "not asked"
            time.sleep(0.001)
        return "stopped early"

    r = pool.apply_async(long_task)
    assert started.wait(WAIT)
    assert r.cancel() is False  # running: only asked
    assert r.get(WAIT) == "stopped early"
    assert not followup.is_cancelled()  # outside any task
    pool.close()
    pool.join()


def test_cancel_racing_completion_resolves_every_result_exactly_once():
    pool = followup.ThreadPool(2)
    outcomes = {"cancelled": 0, "ran": 0}
    for i in range(500):
        r = pool.apply_async(abs, (-i,))
        won = r.cancel()
        try:
            value = r.get(WAIT)
            assert not won and value == i
            outcomes["ran"] += 1
        except cf.CancelledError:
            assert won and r.cancelled()
            outcomes["cancelled"] += 1
    pool.close()
    pool.join()
    assert sum(outcomes.values()) == 500


def test_a_map_result_cannot_be_cancelled(pool):
    assert pool.map_async(abs, [1, 2]).cancel() is False


# --- deadlines ------------------------------------------------------------------------------

def test_a_deadline_on_the_work_versus_a_timeout_on_waiting():
    pool = followup.ThreadPool(1)
    gate, (blocker,) = occupy(pool, 1)
    ran = []
    late = pool.apply_async(ran.append, ("queued",)).timeout(0.05)
    with pytest.raises(followup.DeadlineExceeded, match="cancelled before it started"):
        late.get(WAIT)
    assert isinstance(followup.DeadlineExceeded(), TimeoutError)
    # get(timeout) only gives up waiting: the work goes on.
    with pytest.raises(multiprocessing.TimeoutError):
        blocker.get(timeout=0.01)
    gate.set()
    assert blocker.get(WAIT) is True
    assert pool.apply_async(abs, (-2,)).timeout(WAIT).get(WAIT) == 2
    pool.close()
    pool.join()
    assert ran == []


def test_a_deadline_asks_running_work_to_stop(pool):
    def polite():
        for _ in range(WAIT * 1000):
            if followup.is_cancelled():
                return "stopped"
            time.sleep(0.001)

    r = pool.apply_async(polite)
    with pytest.raises(followup.DeadlineExceeded, match="asked to stop"):
        r.timeout(0.05).get(WAIT)
    assert r.get(WAIT) == "stopped"


def test_deadline_arguments(pool):
    r = pool.apply_async(abs, (-1,))
    with pytest.raises(ValueError):
        r.timeout(-1)
    with pytest.raises(ValueError):
        r.timeout(float("nan"))
    assert r.timeout(1e300).get(WAIT) == 1


# --- the as-completed set ---------------------------------------------------------------------

def test_the_manual_pattern_with_an_as_completed_set_gets_the_follow_ups_back(pool):
    done = pool.as_completed()
    for i in range(10):
        done.apply_async(lambda i: (i, i / 10), (i,))
    firsts, seconds = [], []
    for r in done:
        value = r.get()
        if len(value) == 2:
            firsts.append(value)
            i, v = value
            if v > 0.5:
                done.apply_async(lambda i, v: (i, v, "follow-up"), (i, v))
        else:
            seconds.append(value)
    assert len(firsts) == 10
    assert sorted(s[0] for s in seconds) == [6, 7, 8, 9]


def test_follow_ups_added_by_tasks_and_callbacks_as_the_set_drains():
    pool = followup.ThreadPool(2)
    for _ in range(20):
        done = pool.as_completed()

        def node(depth):
            if depth < 4:  # added from the task itself, before it finishes
                done.apply_async(node, (depth + 1,))
                done.apply_async(node, (depth + 1,))
            return depth

        def from_callback(v):
            if v < 3:  # added from the callback, before its result is ready
                done.apply_async(lambda x: x + 1, (v,), callback=from_callback)

        done.apply_async(node, (0,))
        done.apply_async(abs, (0,), callback=from_callback)
        yielded = [r.get() for r in done]
        assert len(yielded) == (2**5 - 1) + 4
    pool.close()
    pool.join()


def test_as_completed_next_timeout_len_and_misuse(pool):
    gate = threading.Event()
    done = pool.as_completed([pool.apply_async(gate.wait, (WAIT,))])
    assert len(done) == 1
    with pytest.raises(multiprocessing.TimeoutError):
        done.next(timeout=0.01)
    gate.set()
    assert done.next(timeout=WAIT).get() is True
    with pytest.raises(StopIteration):
        next(done)
    with pytest.raises(RuntimeError, match="has ended"):
        done.add(pool.apply_async(abs, (1,)))


# --- task groups ----------------------------------------------------------------------------

def test_a_group_waits_for_a_tree_that_grows_while_it_is_waited_on():
    pool = followup.ThreadPool(2)
    seen = []
    lock = threading.Lock()

    def walk(g, n):
        with lock:
            seen.append(n)
        time.sleep(0.001)
        if n < 64:
            g.apply_async(walk, (g, 2 * n))
            g.apply_async(walk, (g, 2 * n + 1))

    with pool.group() as g:
        g.apply_async(walk, (g, 1))
    assert sorted(seen) == list(range(1, 128))
    assert pool._state == "RUN"  # the pool was not closed
    pool.close()
    pool.join()


@pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup is 3.11+")
def test_a_group_raises_every_failure_in_an_exception_group(pool):
    with pytest.raises(ExceptionGroup) as info:  # noqa: F821
        with pool.group() as g:
            g.apply_async(int, ("a",))
            g.apply_async(abs, (-1,))
            g.apply_async(int, ("b",))
    excs = info.value.exceptions
    assert len(excs) == 2 and all(isinstance(e, ValueError) for e in excs)


def test_a_failing_body_cancels_the_group_and_propagates(pool):
    gate, blockers = occupy(pool, 4)
    ran = []
    with pytest.raises(KeyError):
        with pool.group() as g:
            queued = g.apply_async(ran.append, (1,))
            threading.Timer(0.05, gate.set).start()
            raise KeyError("body")
    assert queued.cancelled() and ran == []
    for b in blockers:
        b.get(WAIT)


def test_cancel_a_group_and_refuse_new_work(pool):
    g = pool.group()
    gate, blockers = occupy(pool, 4)
    queued = [g.apply_async(abs, (-i,)) for i in range(5)]
    g.cancel()
    with pytest.raises(cf.CancelledError):
        g.apply_async(abs, (1,))
    gate.set()
    assert g.wait(WAIT)
    assert all(r.cancelled() for r in queued)
    assert g.errors == []  # cancelled tasks are not failures
    for b in blockers:
        b.get(WAIT)


def test_waiting_on_a_group_from_its_own_task_is_refused(pool):
    with pytest.raises(ExceptionGroup if sys.version_info >= (3, 11) else followup.GroupError):  # noqa: F821
        with pool.group() as g:
            g.apply_async(lambda: g.wait(WAIT))
    g = pool.group()
    r = g.apply_async(lambda: g.wait(0))
    with pytest.raises(RuntimeError, match="its own group"):
        r.get(WAIT)
    assert g.wait(WAIT)


# --- fan-in -------------------------------------------------------------------------------------

def test_all_all_settled_any(pool):
    rs = [pool.apply_async(abs, (-i,)) for i in range(5)]
    assert pool.all(rs).get(WAIT) == [0, 1, 2, 3, 4]
    assert pool.all([]).get(WAIT) == []
    mixed = [pool.apply_async(abs, (-1,)), pool.apply_async(int, ("x",))]
    with pytest.raises(ValueError):
        pool.all(mixed).get(WAIT)
    settled = pool.all_settled(mixed).get(WAIT)
    assert [r.successful() for r in settled] == [True, False]
    gate = threading.Event()
    slow = pool.apply_async(gate.wait, (WAIT,))
    assert pool.any([slow, pool.apply_async(abs, (-7,))]).get(WAIT) == 7
    gate.set()
    failing = [pool.apply_async(int, ("x",)), pool.apply_async(int, ("y",))]
    with pytest.raises(Exception) as info:
        pool.any(failing).get(WAIT)
    assert len(info.value.exceptions) == 2
    with pytest.raises(ValueError):
        pool.any([])


def test_the_first_failure_of_all_cancels_the_inputs_that_have_not_started():
    pool = followup.ThreadPool(1)
    gate, (blocker,) = occupy(pool, 1)
    queued = pool.apply_async(abs, (-1,))
    failing = pool.apply_async(abs, (-2,))
    assert failing.cancel()  # fails at once, while `queued` waits for the worker
    combined = pool.all([blocker, queued, failing])
    with pytest.raises(cf.CancelledError):
        combined.get(WAIT)
    gate.set()
    assert queued.cancelled()
    pool.close()
    pool.join()


# --- concurrent.futures and asyncio -----------------------------------------------------------

def test_the_pool_is_an_executor_whose_futures_the_standard_library_accepts():
    pool = followup.ThreadPool(2)
    assert isinstance(pool, cf.Executor)
    futures = [pool.submit(pow, 2, i) for i in range(8)]
    assert all(isinstance(f, cf.Future) for f in futures)
    assert sorted(f.result() for f in cf.as_completed(futures, timeout=WAIT)) == \
        sorted(2**i for i in range(8))
    done, not_done = cf.wait(futures, timeout=WAIT)
    assert len(done) == 8 and not not_done
    r = pool.apply_async(abs, (-5,))
    assert r.as_future().result(WAIT) == 5
    pool.shutdown(wait=True)
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(abs, 1)


def test_shutdown_cancel_futures_cancels_queued_futures_and_as_completed_sees_them():
    pool = followup.ThreadPool(1)
    started = threading.Event()
    gate = threading.Event()
    first = pool.submit(lambda: (started.set(), gate.wait(WAIT))[1])
    assert started.wait(WAIT)
    rest = [pool.submit(abs, -i) for i in range(5)]
    threading.Timer(0.05, gate.set).start()
    pool.shutdown(wait=True, cancel_futures=True)
    assert first.result(0) is True
    assert all(f.cancelled() for f in rest)
    # CPython's gh-87893: these would never be yielded.
    assert len(list(cf.as_completed(rest, timeout=WAIT))) == 5


def test_asyncio_awaits_pool_work():
    pool = followup.ThreadPool(2)

    async def main():
        loop = asyncio.get_running_loop()
        a = await pool.apply_async(abs, (-3,))
        b = await loop.run_in_executor(pool, abs, -4)
        c = await asyncio.wrap_future(pool.apply_async(abs, (-5,)).as_future())
        return a, b, c

    assert asyncio.run(asyncio.wait_for(main(), WAIT)) == (3, 4, 5)
    pool.close()
    pool.join()


# --- per-item callbacks and progress --------------------------------------------------------

def test_per_item_callbacks_fire_as_each_item_completes(pool):
    gate = threading.Event()
    seen = []

    def f(i):
        if i == 0:
            gate.wait(WAIT)
        return i * 10

    def on_item(index, value):
        seen.append((index, value))
        if len(seen) == 3:
            gate.set()  # item 0 finishes only after three others were reported

    finals = []
    r = pool.map_async(f, range(4), chunksize=1, on_item=on_item, callback=finals.append)
    assert r.get(WAIT) == [0, 10, 20, 30]
    assert seen[-1] == (0, 0) and sorted(seen) == [(i, i * 10) for i in range(4)]
    assert finals == [[0, 10, 20, 30]]


def test_a_raising_per_item_callback_becomes_the_result(pool):
    def on_item(index, value):
        if index == 1:
            raise RuntimeError("item callback")

    with pytest.raises(RuntimeError, match="item callback"):
        pool.map_async(abs, [-1, -2, -3], on_item=on_item).get(WAIT)


def test_progress_callbacks_for_map_and_the_streams(pool):
    calls = []
    assert pool.map(abs, range(-4, 0), progress=lambda d, t: calls.append((d, t))) == [4, 3, 2, 1]
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    seen = []
    assert sorted(pool.imap_unordered(abs, range(-3, 0), progress=lambda d, t: seen.append(d))) \
        == [1, 2, 3]
    assert seen == [1, 2, 3]
    with pytest.raises(TypeError):
        pool.map(abs, [1], progress="yes")


def test_progress_bar_with_tqdm(pool, capsys):
    pytest.importorskip("tqdm")
    assert list(pool.imap(abs, range(-3, 0), progress=True)) == [3, 2, 1]
    assert "3/3" in capsys.readouterr().err
