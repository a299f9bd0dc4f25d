#!/usr/bin/env python3
"""Per-task overhead of followup's Dask backend against Dask's own client.submit/as_completed,
for the same work, in one run, on one LocalCluster (2 worker processes, 1 thread each).

    python bench/python/dask_overhead.py            # full sizes, median of 5 (about 2 minutes)
    python bench/python/dask_overhead.py --quick    # tiny sizes, one repetition: checks it runs

Workloads (every result is checked; the pool is built and warmed outside the timed region):
  apply    2,000 trivial tasks submitted at once, all results collected
           dask: client.submit + as_completed(with_results=True)
           followup: pool.apply_async + get()
  chains   100 chains x 10 steps, each next step issued when the previous one completes
           dask: as_completed(with_results=True) + ac.add(client.submit(...))
           followup: apply_async(callback=...) whose callback issues the next step; close + join

Both sides pay the same cluster costs (scheduling, a network round trip per task, gathering
the values); the ratio is what the backend adds. Repetitions alternate between the two so
that machine noise spreads evenly. Target: ratio <= 1.10.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import threading
import time

import followup
from distributed import Client, LocalCluster, as_completed


def inc(x):
    return x + 1


def step(chain, i):
    return (chain, i)


def dask_apply(client, n):
    futures = [client.submit(inc, i, pure=False) for i in range(n)]
    total = sum(r for _, r in as_completed(futures, with_results=True))
    assert total == n * (n + 1) // 2


def followup_apply(client, n):
    pool = followup.ThreadPool(client=client)
    results = [pool.apply_async(inc, (i,)) for i in range(n)]
    total = sum(r.get() for r in results)
    assert total == n * (n + 1) // 2
    pool.close()
    pool.join()


def dask_chains(client, chains, length):
    ac = as_completed([client.submit(step, c, 1, pure=False) for c in range(chains)],
                      with_results=True)
    done = 0
    for _, (c, i) in ac:
        if i < length:
            ac.add(client.submit(step, c, i + 1, pure=False))
        else:
            done += 1
    assert done == chains


def followup_chains(client, chains, length):
    pool = followup.ThreadPool(client=client)
    done = []

    def callback(result):
        c, i = result
        if i < length:
            pool.apply_async(step, (c, i + 1), callback=callback)
        else:
            done.append(c)

    for c in range(chains):
        pool.apply_async(step, (c, 1), callback=callback)
    pool.close()
    pool.join()
    assert len(done) == chains


def timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repetition")
    opts = parser.parse_args()
    reps = 1 if opts.quick else 5
    n = 100 if opts.quick else 2_000
    chains, length = (10, 3) if opts.quick else (100, 10)

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=":0", silence_logs=logging.ERROR)
    client = Client(cluster)
    client.wait_for_workers(2, timeout=60)
    try:
        # Warm both paths (imports on the workers, connections).
        dask_apply(client, 50)
        followup_apply(client, 50)
        rows = []
        for name, tasks, dask_fn, fu_fn, args in [
            ("apply", n, dask_apply, followup_apply, (n,)),
            ("chains", chains * length, dask_chains, followup_chains, (chains, length)),
        ]:
            d, f = [], []
            for rep in range(reps):
                pair = [(d, dask_fn), (f, fu_fn)]
                if rep % 2:
                    pair.reverse()
                for sink, fn in pair:
                    sink.append(timed(fn, client, *args))
            dm, fm = statistics.median(d), statistics.median(f)
            rows.append((name, tasks, dm / tasks * 1e6, fm / tasks * 1e6, fm / dm))
        print(f"dask {sys.modules['distributed'].__version__}, LocalCluster 2 processes x 1 thread,"
              f" median of {reps}")
        print(f"{'workload':<8} {'tasks':>6} {'dask us/task':>13} {'followup us/task':>17} {'ratio':>6}")
        for name, tasks, du, fu, ratio in rows:
            print(f"{name:<8} {tasks:>6} {du:>13.0f} {fu:>17.0f} {ratio:>6.2f}")
        print("target: ratio <= 1.10 (the backend adds at most 10 % per task)")
    finally:
        client.close()
        cluster.close()
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
