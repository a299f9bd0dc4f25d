"""A pool used from many Python threads at once stays correct."""

import threading

import followup
from conftest import WAIT


def test_eight_threads_submitting_at_once():
    pool = followup.ThreadPool(4)
    results = {}
    errors = []

    def submitter(t):
        try:
            rs = [pool.apply_async(lambda x: x * 2, (t * 1000 + i,)) for i in range(1000)]
            results[t] = [r.get(timeout=WAIT) for r in rs]
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=submitter, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(WAIT)
    assert not errors
    flat = sorted(v for vs in results.values() for v in vs)
    assert flat == sorted(2 * (t * 1000 + i) for t in range(8) for i in range(1000))
    pool.close()
    pool.join()


def test_maps_and_streams_from_several_threads():
    pool = followup.ThreadPool(3)
    out = {}

    def user(t):
        out[(t, "map")] = pool.map(abs, range(-100, 0))
        out[(t, "imap")] = list(pool.imap_unordered(abs, range(-100, 0), chunksize=3))

    threads = [threading.Thread(target=user, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(WAIT)
    for t in range(6):
        assert out[(t, "map")] == list(range(100, 0, -1))
        assert sorted(out[(t, "imap")]) == list(range(1, 101))
    pool.close()
    pool.join()


def test_close_racing_submissions_never_loses_an_accepted_job():
    for _ in range(20):
        pool = followup.ThreadPool(2)
        accepted = []
        start = threading.Barrier(2)

        def submit():
            start.wait(WAIT)
            for i in range(200):
                try:
                    accepted.append(pool.apply_async(abs, (-i,)))
                except ValueError:
                    return

        th = threading.Thread(target=submit)
        th.start()
        start.wait(WAIT)
        pool.close()
        th.join(WAIT)
        pool.join()
        assert all(r.ready() for r in accepted)
