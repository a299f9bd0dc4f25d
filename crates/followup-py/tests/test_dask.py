"""The Dask backend, ``followup.ThreadPool(client=...)``, on a real LocalCluster (2 worker
processes) started by this module: the pool's surface, callbacks on the client, follow-ups
issued on workers and join(), what cannot cross machines, lost workers, the tutorial's
programs. Every wait is bounded. Skipped without dask[distributed]."""

import asyncio
import logging
import multiprocessing
import os
import pathlib
import re
import subprocess
import sys
import threading
import time

import pytest

distributed = pytest.importorskip("distributed")
import dask  # noqa: E402

import followup  # noqa: E402
from followup.dask import DaskThreadPool  # noqa: E402
from conftest import WAIT  # noqa: E402

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def client():
    # One lost worker is forgiven (the task is rescheduled), a second fails the task: keeps the
    # fault tests short.
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=2, processes=True, dashboard_address=":0",
            silence_logs=logging.ERROR,
        )
    c = distributed.Client(cluster)
    c.wait_for_workers(2, timeout=WAIT)
    yield c
    c.close()
    cluster.close()


@pytest.fixture
def pool(client):
    p = followup.ThreadPool(client=client)
    yield p
    p.terminate()
    p.join()


def full_cluster(client):
    client.wait_for_workers(2, timeout=WAIT)


# --- tasks (importable by the workers, so pickled by reference) -----------------------------

def sqr(x, wait=0.0):
    time.sleep(wait)
    return x * x


def pid_of(_=None):
    return os.getpid()


class Boom(Exception):
    pass


def fail(x):
    raise Boom(f"boom {x}")


def fail_on(bad, x):
    if x in bad:
        raise Boom(f"bad {x}")
    return x


#: What callbacks sent from workers did, in the client process.
LOG = []
LOG_LOCK = threading.Lock()


def log(value):
    with LOG_LOCK:
        LOG.append((value, os.getpid(), threading.get_ident()))


def chain(pool, depth, limit):
    """Issues the next step from the worker it runs on, then returns."""
    time.sleep(0.02)
    if depth < limit:
        pool.apply_async(chain, (pool, depth + 1, limit), callback=log)
    return (depth, os.getpid())


def tree(pool, depth, limit, fanout):
    if depth < limit:
        for _ in range(fanout):
            pool.apply_async(tree, (pool, depth + 1, limit, fanout), callback=log)
    return depth


def wait_for_follow_ups(pool, x):
    """Waits on a worker for work it issued (the wait secedes from the worker's threads)."""
    return pool.apply(sqr, (x,)) + sum(pool.map(abs, [-1, -2, -3], chunksize=1))


def die_once(marker):
    """Kills its worker process the first time it runs; returns on the retry."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return "survived"


def die_always():
    os._exit(1)


def flaky(marker):
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise Boom("first attempt")
    return "second attempt"


INIT = []


def init(tag):
    INIT.append(tag)


def init_seen():
    return list(INIT)


def bad_init():
    raise OSError("no database")


# --- the surface ------------------------------------------------------------------------------

def test_construction_by_client_gives_a_dask_pool(pool, client):
    assert isinstance(pool, DaskThreadPool)
    assert pool._state == multiprocessing.pool.RUN
    assert pool._processes == sum(client.nthreads().values()) == 4
    assert repr(pool) == "<followup.dask.DaskThreadPool state=RUN pool_size=4>"
    with pytest.raises(TypeError, match="distributed.Client"):
        followup.ThreadPool(client="tcp://nowhere:1")
    with pytest.raises(ValueError, match="at least 1"):
        followup.ThreadPool(0, client=client)
    with pytest.raises(TypeError):
        followup.ThreadPool(client=client, parallel_callbacks=True)


def test_every_public_method_of_the_local_pool_exists():
    public = {n for n in dir(followup.ThreadPool) if not n.startswith("_")}
    # stats() reads the local engine's per-worker counters; a cluster reports its own
    # (client.dashboard_link), so the Dask pool does not pretend to have them.
    public -= {"stats"}
    assert public <= set(dir(DaskThreadPool))
    on_results = {n for n in dir(followup.AsyncResult) if not n.startswith("__")}
    assert on_results <= set(dir(followup.dask.AsyncResult))


def test_apply_map_starmap_and_their_async_forms(pool):
    assert pool.apply(sqr, (5,)) == 25
    assert pool.apply(sqr, (), {"x": 3}) == 9
    r = pool.apply_async(sqr, (7,))
    assert isinstance(r, followup.dask.AsyncResult)
    assert r.get(timeout=WAIT) == 49 and r.get(timeout=WAIT) == 49
    assert r.ready() and r.successful() and r.wait(WAIT) is None
    assert pool.map(sqr, range(10)) == [x * x for x in range(10)]
    assert pool.map(sqr, range(100), chunksize=7) == [x * x for x in range(100)]
    assert pool.map_async(sqr, (x for x in range(5))).get(timeout=WAIT) == [0, 1, 4, 9, 16]
    pairs = [(2, 3), (3, 2), (5, 1)]
    assert pool.starmap(pow, pairs) == [8, 9, 5]
    assert pool.starmap_async(pow, pairs, chunksize=2).get(timeout=WAIT) == [8, 9, 5]
    assert len(set(pool.map(pid_of, range(40), chunksize=1))) >= 1
    assert os.getpid() not in pool.map(pid_of, range(8), chunksize=1)  # ran on the workers


def test_imap_and_imap_unordered_with_chunks_and_next_timeout(pool):
    assert list(pool.imap(sqr, range(10))) == [x * x for x in range(10)]
    assert list(pool.imap(sqr, range(200), chunksize=30)) == [x * x for x in range(200)]
    assert sorted(pool.imap_unordered(sqr, range(50), chunksize=4)) == [x * x for x in range(50)]
    it = pool.imap(sqr, [(1)], chunksize=1)
    assert iter(it) is it
    assert it.next(timeout=WAIT) == 1
    with pytest.raises(StopIteration):
        it.next(timeout=WAIT)
    slow = pool.imap(sqr, [2], chunksize=3)
    slow_item = pool.imap(sqr, [(3)])
    assert slow.next(timeout=WAIT) == 4 and slow_item.next(timeout=WAIT) == 9
    it = pool.imap_unordered(time.sleep, [3], chunksize=2)
    with pytest.raises(multiprocessing.TimeoutError):
        it.next(timeout=0.05)
    assert it.next(timeout=WAIT) is None  # still usable


def test_the_input_of_imap_is_read_lazily(pool):
    pulled = [0]

    def counting():
        i = 0
        while True:
            pulled[0] += 1
            yield i
            i += 1

    it = pool.imap(abs, counting())
    assert [it.next(timeout=WAIT) for _ in range(5)] == list(range(5))
    time.sleep(0.2)
    assert pulled[0] <= 5 + 2 * pool._processes + 1  # a bounded window ahead


def test_get_timeout_and_not_ready(pool):
    r = pool.apply_async(sqr, (2, 1.0))
    with pytest.raises(multiprocessing.TimeoutError):
        r.get(timeout=0.01)
    assert not r.ready()
    with pytest.raises(ValueError, match="not ready"):
        r.successful()
    with pytest.raises(ValueError):
        r.get(timeout=float("nan"))
    assert r.get(timeout=WAIT) == 4
    assert r.get(timeout=-1) == 4 and r.get(timeout=1e300) == 4


def test_chunksize_below_one_and_empty_input(pool):
    for c in (0, -1):
        with pytest.raises(ValueError, match="Chunksize must be 1\\+"):
            pool.map(sqr, [1, 2], chunksize=c)
        with pytest.raises(ValueError, match="Chunksize must be 1\\+"):
            pool.imap(sqr, [1, 2], chunksize=c)
    got = []
    assert pool.map_async(sqr, [], callback=got.append).get(timeout=WAIT) == []
    assert got == [[]]


def test_exceptions_are_the_tasks_own(pool):
    r = pool.apply_async(fail, (1,))
    with pytest.raises(Boom, match="boom 1") as first:
        r.get(timeout=WAIT)
    with pytest.raises(Boom) as second:
        r.get(timeout=WAIT)
    assert first.value is second.value and not r.successful()
    with pytest.raises(TypeError):
        pool.apply_async(sqr, 5).get(timeout=WAIT)  # not iterable: raised on the worker
    with pytest.raises(Boom, match="bad 3"):  # the lowest failing index, whatever finishes first
        pool.starmap(fail_on, [({3, 7}, x) for x in range(10)], chunksize=1)
    with pytest.raises(Boom, match="bad 2"):
        pool.starmap_async(fail_on, [({2}, x) for x in range(4)], chunksize=3).get(timeout=WAIT)


def test_imap_raises_for_the_failing_item_and_goes_on(pool):
    for chunksize in (1, 3):
        it = pool.imap(fail, [1], chunksize=chunksize)
        with pytest.raises(Boom):
            it.next(timeout=WAIT)
        it = pool.imap(abs, [-1, "x", -3], chunksize=chunksize)
        assert it.next(timeout=WAIT) == 1
        with pytest.raises(TypeError):
            it.next(timeout=WAIT)
        assert it.next(timeout=WAIT) == 3


def test_an_input_that_raises_ends_the_imap_stream_there(pool):
    def gen():
        yield -1
        raise Boom("input")

    it = pool.imap(abs, gen())
    assert it.next(timeout=WAIT) == 1
    with pytest.raises(Boom, match="input"):
        it.next(timeout=WAIT)
    with pytest.raises(StopIteration):
        it.next(timeout=WAIT)


def test_submissions_after_close_from_outside_are_refused(client):
    p = followup.ThreadPool(client=client)
    with pytest.raises(ValueError, match="Pool is still running"):
        p.join()
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
    p.join()
    assert p._state == "CLOSE"


def test_context_manager_terminates(client):
    with followup.ThreadPool(client=client) as p:
        assert p.apply(sqr, (3,)) == 9
    assert p._state == "TERMINATE"
    with pytest.raises(ValueError, match="Pool not running"):
        with p:
            pass
    p.join()


# --- callbacks --------------------------------------------------------------------------------

def test_callbacks_run_on_the_client_one_at_a_time_on_one_thread_before_ready(pool):
    active, peak, threads, seen = [0], [0], set(), []
    lock = threading.Lock()

    def callback(v):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        threads.add((os.getpid(), threading.get_ident()))
        seen.append(v)  # no lock: callbacks are serial
        time.sleep(0.002)
        with lock:
            active[0] -= 1

    rs = [pool.apply_async(abs, (-i,), callback=callback) for i in range(100)]
    for r in rs:
        r.get(timeout=WAIT)
    assert len(seen) == 100  # every callback ran before its result was ready
    assert peak[0] == 1 and sorted(seen) == list(range(100))
    assert len(threads) == 1
    (pid, ident), = threads
    assert pid == os.getpid() and ident != threading.main_thread().ident


def test_a_callback_that_raises_becomes_the_result_and_error_callbacks_are_told(pool):
    def bad_callback(v):
        raise Boom(f"callback {v}")

    with pytest.raises(Boom, match="callback 4"):
        pool.apply_async(sqr, (2,), callback=bad_callback).get(timeout=WAIT)
    told = []
    r = pool.apply_async(fail, (9,), error_callback=told.append)
    with pytest.raises(Boom):
        r.get(timeout=WAIT)
    assert len(told) == 1 and told[0] is r._value
    assert pool.apply(sqr, (3,)) == 9  # nothing hangs, the pool goes on


def test_waiting_inside_a_callback_is_refused_instead_of_deadlocking(pool):
    errors = []

    def callback(v):
        try:
            pool.apply(sqr, (v,))
        except RuntimeError as e:
            errors.append(e)

    pool.apply_async(sqr, (2,), callback=callback).get(timeout=WAIT)
    assert errors and "callback" in str(errors[0])


# --- follow-ups and join ----------------------------------------------------------------------

def test_follow_ups_from_callbacks_after_close_run_and_join_waits_for_them(client):
    done = []
    p = followup.ThreadPool(client=client)

    def callback(n):
        done.append(n)
        if n < 5:
            p.apply_async(sqr, (n + 1,), callback=lambda v, n=n: callback(n + 1))

    p.apply_async(sqr, (0,), callback=lambda v: callback(0))
    p.close()
    p.join()
    assert done == list(range(6))


@pytest.mark.parametrize("rep", range(3))
def test_a_chain_three_deep_issued_from_tasks_on_workers_is_awaited_by_join(client, rep):
    LOG.clear()
    p = followup.ThreadPool(client=client)
    first = p.apply_async(chain, (p, 0, 3), callback=log)
    p.close()  # before any follow-up exists
    p.join()
    depths = sorted(v[0] for v, _, _ in LOG)
    assert depths == [0, 1, 2, 3]
    assert {pid for _, pid, _ in LOG} == {os.getpid()}  # callbacks ran on the client
    assert len({ident for _, _, ident in LOG}) == 1  # on one thread
    assert os.getpid() not in {v[1] for v, _, _ in LOG}  # the tasks ran on workers
    assert first.get(timeout=WAIT)[0] == 0


def test_a_fan_out_tree_from_workers_is_awaited_by_join(client):
    for _ in range(2):
        LOG.clear()
        p = followup.ThreadPool(client=client)
        p.apply_async(tree, (p, 0, 3, 2), callback=log)
        p.close()
        p.join()
        assert len(LOG) == 1 + 2 + 4 + 8


def test_a_task_may_wait_on_a_worker_for_the_work_it_issued(pool):
    assert pool.apply_async(wait_for_follow_ups, (pool, 5)).get(timeout=WAIT) == 25 + 6


def test_a_task_given_another_pool_that_has_ended_fails_loudly(client):
    ended = followup.ThreadPool(client=client)
    ended.close()
    ended.join()
    live = followup.ThreadPool(client=client)
    r = live.apply_async(chain, (ended, 0, 1))
    with pytest.raises(RuntimeError, match="has ended"):
        r.get(timeout=WAIT)
    live.close()
    live.join()


def test_terminate_resolves_unfinished_work_with_pool_terminated(client):
    p = followup.ThreadPool(client=client)
    told = []
    slow = [p.apply_async(time.sleep, (2,), error_callback=told.append) for _ in range(8)]
    mapped = p.starmap_async(sqr, [(1, 2)] * 4, chunksize=1)
    it = p.imap(sqr, [(1)])
    time.sleep(0.1)
    p.terminate()
    p.join()
    for r in slow:
        with pytest.raises(followup.PoolTerminated):
            r.get(timeout=WAIT)
    with pytest.raises(followup.PoolTerminated):
        mapped.get(timeout=WAIT)
    assert len(told) == 8 and all(isinstance(e, followup.PoolTerminated) for e in told)
    for _ in range(2):
        try:
            it.next(timeout=WAIT)
        except StopIteration:
            break
    with pytest.raises(ValueError, match="Pool not running"):
        p.apply_async(sqr, (1,))


# --- what cannot cross machines ---------------------------------------------------------------

def test_an_unpicklable_argument_or_function_fails_at_submission_naming_it(pool):
    lock = threading.Lock()
    with pytest.raises(TypeError, match="argument 0 .*lock.* cannot be sent to the Dask cluster"):
        pool.apply_async(sqr, (lock,))
    with pytest.raises(TypeError, match="keyword argument 'wait'"):
        pool.apply_async(sqr, (1,), {"wait": lock})
    with pytest.raises(TypeError, match="the function .*cannot be sent"):
        pool.apply_async(lambda: lock.locked())
    with pytest.raises(TypeError, match="input item 2 "):
        pool.map(sqr, [1, 2, lock, 4], chunksize=1)
    it = pool.imap(sqr, [1, lock])
    assert it.next(timeout=WAIT) == 1
    with pytest.raises(TypeError, match="input item 1 "):
        it.next(timeout=WAIT)
    assert pool.apply(sqr, (4,)) == 16  # the pool goes on


def test_an_unpicklable_result_fails_its_own_result(pool):
    r = pool.apply_async(threading.Lock)
    with pytest.raises(Exception, match="(?i)pickle|serializ"):
        r.get(timeout=WAIT)
    assert pool.apply(sqr, (5,)) == 25


# --- initializer and retries ------------------------------------------------------------------

def test_the_initializer_runs_in_every_worker(client):
    p = followup.ThreadPool(client=client, initializer=init, initargs=("ready",))
    got = [r.get(timeout=WAIT) for r in [p.apply_async(init_seen) for _ in range(8)]]
    assert all("ready" in g for g in got)
    assert "ready" not in INIT  # not in the client
    p.close()
    p.join()
    with pytest.raises(OSError, match="no database"):
        followup.ThreadPool(client=client, initializer=bad_init)


def test_retries_are_passed_through(client, tmp_path):
    p = followup.ThreadPool(client=client, retries=1)
    assert p.apply_async(flaky, (str(tmp_path / "a"),)).get(timeout=WAIT) == "second attempt"
    p.close()
    p.join()
    q = followup.ThreadPool(client=client)
    with pytest.raises(Boom, match="first attempt"):
        q.apply_async(flaky, (str(tmp_path / "b"),)).get(timeout=WAIT)
    q.close()
    q.join()


# --- lost workers (last: they restart worker processes) ---------------------------------------

def test_a_task_whose_worker_dies_is_rescheduled_and_its_result_arrives(client, tmp_path):
    full_cluster(client)
    p = followup.ThreadPool(client=client)
    r = p.apply_async(die_once, (str(tmp_path / "marker"),))
    others = p.map_async(sqr, range(20), chunksize=1)
    assert r.get(timeout=60) == "survived"
    assert others.get(timeout=60) == [x * x for x in range(20)]
    p.close()
    p.join()


def test_a_task_that_kills_every_worker_fails_with_the_workers_error(client):
    full_cluster(client)
    p = followup.ThreadPool(client=client)
    told = []
    r = p.apply_async(die_always, error_callback=told.append)
    with pytest.raises(distributed.scheduler.KilledWorker, match="workers died"):
        r.get(timeout=90)
    assert len(told) == 1 and isinstance(told[0], distributed.scheduler.KilledWorker)
    full_cluster(client)
    assert p.apply(sqr, (6,)) == 36  # the pool goes on
    p.close()
    p.join()


# --- the tutorial's programs --------------------------------------------------------------------

def only_construction_changed(local: str, remote: str) -> None:
    """The Dask version adds the import of Client and changes the construction line only."""
    import difflib

    diff = [ln for ln in difflib.ndiff(local.splitlines(), remote.splitlines())
            if ln[:2] in ("- ", "+ ") and not ln[2:].lstrip().startswith("#")]
    assert diff == [
        "+ from dask.distributed import Client",
        "-     with ThreadPool() as pool:",
        "+     with ThreadPool(client=Client()) as pool:",
    ], diff


def check_output_of_processes(out: str) -> None:
    """The tutorial's output, printed by several worker processes at once (a line may be cut by
    another process's line, so it is read by pattern rather than line by line)."""
    assert out.rstrip().endswith("All done.")
    firsts = re.findall(r"(?<!>)>(\d+) generated ([0-9.e-]+\d)", out)
    follow = re.findall(r">>(\d+) with ([0-9.e-]+\d), generated ([0-9.e-]+\d)", out)
    assert sorted(int(i) for i, _ in firsts) == list(range(10))
    above = {int(i) for i, v in firsts if float(v) > 0.5}
    assert {int(i) for i, _, _ in follow} == above


@pytest.mark.parametrize("name", ["tutorial_manual.py", "tutorial_callback.py"])
def test_the_tutorial_programs_run_on_a_local_cluster(name):
    local = (EXAMPLES / name).read_text()
    remote = (EXAMPLES / f"dask_{name}").read_text()
    only_construction_changed(local, remote)
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1")
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    proc = subprocess.run([sys.executable, str(EXAMPLES / f"dask_{name}")], capture_output=True,
                          text=True, timeout=180, env=env, cwd=str(EXAMPLES))
    assert proc.returncode == 0, proc.stderr
    check_output_of_processes(proc.stdout)


# --- the follow-up primitives ------------------------------------------------------------------

def inc(x):
    return x + 1


def pid_and(x):
    return (os.getpid(), x)


def issue_sqr(pool, x):
    """Issues a follow-up from the worker and returns its result (for and_then)."""
    return pool.apply_async(sqr, (x,))


def issue_map(pool, xs):
    return pool.map_async(inc, xs, chunksize=1)


def joined(p, timeout=WAIT):
    """p.close(); p.join() within `timeout` seconds (True if join returned)."""
    p.close()
    t = threading.Thread(target=p.join, daemon=True)
    t.start()
    t.join(timeout)
    return not t.is_alive()


def wait_for_gate(gate):
    """Runs until the test opens the gate (creates the file), for at most WAIT seconds."""
    end = time.monotonic() + WAIT
    while not os.path.exists(gate) and time.monotonic() < end:
        time.sleep(0.01)
    return 0


def busy(pool, gate):
    """Occupies every worker thread (and Dask's queueing headroom) until the gate opens; the
    caller opens it and waits for all of them, so that the next test finds an idle cluster."""
    # More tasks of one kind than twice the cluster's threads: Dask queues the excess on the
    # scheduler (not assigned to a worker: not started) instead of sending it to workers.
    blockers = [pool.apply_async(wait_for_gate, (gate,)) for _ in range(BUSY)]
    scheduled(pool._client, [b._future.key for b in blockers])
    return blockers


def keys_known(dask_scheduler=None, keys=()):
    return all(k in dask_scheduler.tasks for k in keys)


def scheduled(client, keys):
    """Waits until the scheduler knows these tasks (submissions may reach it out of order):
    then every task submitted later finds the cluster's threads taken and is queued."""
    end = time.monotonic() + WAIT
    while not client.run_on_scheduler(keys_known, keys=keys):
        assert time.monotonic() < end
        time.sleep(0.01)


BUSY = 12


def test_continuations_run_on_workers_with_done_callbacks_on_the_lane(pool):
    r = pool.apply_async(sqr, (3,))
    chained = r.map(inc).map(inc).map(pid_and)  # three deep
    pid, value = chained.get(timeout=WAIT)
    assert value == 11 and pid != os.getpid()
    assert r.then(lambda ready: ready.get() * 2).get(timeout=WAIT) == 18
    assert pool.apply_async(fail, (1,)).recover(lambda e: type(e).__name__).get(timeout=WAIT) == "Boom"
    assert pool.apply_async(sqr, (2,)).recover(lambda e: 0).get(timeout=WAIT) == 4
    with pytest.raises(Boom):
        pool.apply_async(fail, (2,)).map(inc).get(timeout=WAIT)  # an exception passes through
    assert pool.apply_async(sqr, (2,)).when(lambda v: v > 3, inc).get(timeout=WAIT) == 5
    assert pool.apply_async(sqr, (1,)).when(lambda v: v > 3, inc).get(timeout=WAIT) is None
    assert pool.apply_async(sqr, (2,)).and_then(lambda v: issue_sqr(pool, v)).get(timeout=WAIT) == 16
    assert pool.apply_async(abs, (3,)).and_then(
        lambda v: issue_map(pool, range(v))).get(timeout=WAIT) == [1, 2, 3]
    with pytest.raises(Boom):
        pool.apply_async(abs, (3,)).and_then(lambda v: pool.apply_async(fail, (v,))).get(timeout=WAIT)
    with pytest.raises(TypeError, match="must return an AsyncResult"):
        pool.apply_async(abs, (3,)).and_then(inc).get(timeout=WAIT)
    threads = []
    done = threading.Event()
    r.add_done_callback(lambda x: (threads.append(threading.current_thread().name), done.set()))
    assert done.wait(WAIT) and threads == [threading.current_thread().name]  # ready: at once
    pending = pool.apply_async(sqr, (1, 0.3))
    pending.add_done_callback(lambda x: (threads.append(threading.current_thread().name), done.set()))
    done.clear()
    assert done.wait(WAIT) and threads[1].startswith("followup-dask-lane")
    assert pending.as_future().result(timeout=WAIT) == 1

    async def awaited():
        return await asyncio.wait_for(pool.apply_async(sqr, (6,)).map(inc), WAIT)

    assert asyncio.run(awaited()) == 37


def test_a_done_callback_that_raises_is_reported_and_the_others_run(pool, monkeypatch):
    reported, ran = [], threading.Event()
    monkeypatch.setattr(sys, "unraisablehook", reported.append)
    r = pool.apply_async(sqr, (2, 0.2))
    r.add_done_callback(lambda r: 1 / 0)
    r.add_done_callback(lambda r: ran.set())
    assert ran.wait(WAIT) and r.get(timeout=WAIT) == 4
    assert [type(u.exc_value) for u in reported] == [ZeroDivisionError]
    assert pool.apply_async(sqr, (3,)).map(inc).get(timeout=WAIT) == 10


def test_close_and_join_wait_for_continuations_and_done_callbacks(client):
    p = followup.ThreadPool(client=client)
    seen = []
    last = p.apply_async(sqr, (2, 0.2)).map(inc).map(inc).and_then(lambda v: issue_sqr(p, v - 5))
    last.add_done_callback(lambda r: (time.sleep(0.2), seen.append(r.get())))
    assert joined(p)
    assert last.ready() and seen == [1]
    with pytest.raises(ValueError, match="Pool not running"):
        p.apply_async(sqr, (1,)).map(inc)


def test_terminate_resolves_continuations_and_promises(client):
    p = followup.ThreadPool(client=client)
    running = p.apply_async(sqr, (1, 0.5))
    after = running.map(inc)
    fan_in = p.all([running, after])
    p.terminate()
    for r in (running, after, fan_in):
        with pytest.raises(followup.PoolTerminated):
            r.get(timeout=WAIT)
    t = threading.Thread(target=p.join, daemon=True)
    t.start()
    t.join(WAIT)
    assert not t.is_alive()
    with pytest.raises(ValueError, match="Pool not running"):
        running._promise()


def test_as_completed_yields_what_the_loop_adds(pool):
    done = pool.as_completed([pool.apply_async(sqr, (i,)) for i in range(4)])
    seen = []
    for r in done:
        v = r.get(timeout=0)
        seen.append(v)
        if v == 9:
            done.apply_async(sqr, (10,))
        if v == 100:
            done.add(pool.apply_async(sqr, (1,)).map(inc))
    assert sorted(seen) == [0, 1, 2, 4, 9, 100]
    with pytest.raises(RuntimeError):
        done.add(pool.apply_async(sqr, (1,)))


def test_a_task_group_growing_from_callbacks(pool):
    found = []

    with pool.group() as g:
        def grow(n):
            found.append(n)
            if n < 8:
                g.apply_async(abs, (2 * n,), callback=grow)
                g.apply_async(abs, (2 * n + 1,), callback=grow)

        g.apply_async(abs, (1,), callback=grow)
    assert sorted(found) == list(range(1, 16))
    with pytest.raises(BaseException) as info:
        with pool.group() as g:
            g.apply_async(fail, (1,))
            g.apply_async(sqr, (2,))
    assert [type(e) for e in info.value.exceptions] == [Boom]


def test_all_all_settled_and_any(pool):
    assert pool.all([pool.apply_async(sqr, (i,)) for i in range(5)]).get(timeout=WAIT) == [0, 1, 4, 9, 16]
    with pytest.raises(Boom):
        pool.all([pool.apply_async(sqr, (1,)), pool.apply_async(fail, (2,))]).get(timeout=WAIT)
    settled = pool.all_settled([pool.apply_async(sqr, (3,)), pool.apply_async(fail, (2,))]).get(timeout=WAIT)
    assert [r.successful() for r in settled] == [True, False]
    assert pool.any([pool.apply_async(fail, (1,)), pool.apply_async(sqr, (4, 0.2))]).get(timeout=WAIT) == 16
    with pytest.raises(BaseException) as info:
        pool.any([pool.apply_async(fail, (1,)), pool.apply_async(fail, (2,))]).get(timeout=WAIT)
    assert len(info.value.exceptions) == 2
    assert pool.all([]).get(timeout=WAIT) == []


def test_cancel_of_queued_work(pool, tmp_path):
    import concurrent.futures

    gate = str(tmp_path / "gate")
    blockers = busy(pool, gate)
    told = []
    queued = pool.apply_async(sqr, (5,), error_callback=told.append)
    follow = queued.map(inc)
    assert queued.cancel() is True and queued.cancelled()
    with pytest.raises(concurrent.futures.CancelledError):
        queued.get(timeout=WAIT)
    with pytest.raises(concurrent.futures.CancelledError):
        follow.get(timeout=WAIT)
    assert len(told) == 1 and isinstance(told[0], concurrent.futures.CancelledError)
    time.sleep(0.3)
    assert blockers[0].cancel() is False  # running: Dask cannot interrupt it
    open(gate, "w").close()
    assert [b.get(timeout=WAIT) for b in blockers] == [0] * BUSY
    assert queued.cancel() is False


def test_a_deadline_cancels_work_that_has_not_started(pool, tmp_path):
    gate = str(tmp_path / "gate")
    blockers = busy(pool, gate)
    late = pool.apply_async(sqr, (5,)).timeout(0.2)
    with pytest.raises(followup.DeadlineExceeded, match="cancelled before it started"):
        late.get(timeout=WAIT)
    with pytest.raises(followup.DeadlineExceeded, match="left running"):
        blockers[0].timeout(0.2).get(timeout=WAIT)
    open(gate, "w").close()
    assert [b.get(timeout=WAIT) for b in blockers] == [0] * BUSY  # it ran on, to the end
    assert pool.apply_async(sqr, (3,)).timeout(WAIT).get(timeout=WAIT) == 9


def test_submit_gives_real_futures_and_shutdown_cancels_the_queued(client, tmp_path):
    import concurrent.futures

    p = followup.ThreadPool(client=client)
    futures = [p.submit(sqr, i, wait=0.05 * i) for i in range(6)]
    assert sorted(f.result() for f in concurrent.futures.as_completed(futures, timeout=WAIT)) == \
        [0, 1, 4, 9, 16, 25]
    with pytest.raises(Boom):
        p.submit(fail, 1).result(timeout=WAIT)
    gate = str(tmp_path / "gate")
    blockers = [p.submit(wait_for_gate, gate) for _ in range(BUSY)]
    scheduled(client, [f._task._future.key for f in blockers])
    queued = p.submit(sqr, 7)
    assert queued.cancel() and queued.cancelled()
    late = [p.submit(wait_for_gate, gate) for _ in range(2)]
    p.shutdown(wait=False, cancel_futures=True)
    with pytest.raises(RuntimeError):
        p.submit(sqr, 1)
    open(gate, "w").close()
    done, not_done = concurrent.futures.wait(blockers + late + [queued], timeout=WAIT)
    assert not not_done and all(f.cancelled() for f in late)
    assert joined(p)


def test_map_async_reports_each_item(pool):
    items = []
    r = pool.map_async(sqr, range(6), chunksize=2, on_item=lambda i, v: items.append((i, v)))
    assert r.get(timeout=WAIT) == [0, 1, 4, 9, 16, 25]
    assert sorted(items) == [(i, i * i) for i in range(6)]
    seen = []
    assert pool.map(sqr, range(4), progress=lambda done, total: seen.append((done, total))) == [0, 1, 4, 9]
    assert seen[-1] == (4, 4)
