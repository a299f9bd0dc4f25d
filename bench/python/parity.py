#!/usr/bin/env python3
"""Python parity for followup's benchmark: CPython's multiprocessing.pool.ThreadPool on W1-W4
of peer-benchmarks.md and on the seed tutorial's two follow-up patterns (scaled down, no
sleeps). The Rust bench binary runs this script (fed on stdin) with the sizes it chose, then
runs followup at the same sizes and prints the ratio.

Method as for the Rust peers: each run builds a ThreadPool(2) and warms it outside the timed
region (one 2 ms sleeper per worker, then 2,000 small tasks); runs are rotated across rows per
repetition with a 20 ms pause; every result is checked. Output: one line per row,
RESULT<TAB>key<TAB>median<TAB>min<TAB>max<TAB>label, in nanoseconds per task (or per item).
"""

import argparse
import itertools
import math
import random
import statistics
import sys
import threading
import time
from multiprocessing.pool import ThreadPool

WORKERS = 2


class Latch:
    """Counts completions (itertools.count is atomic under the GIL); wakes main at zero."""

    def __init__(self, n):
        self.n = n
        self.counter = itertools.count(1)
        self.event = threading.Event()

    def count_down(self, *_args):
        if next(self.counter) == self.n:
            self.event.set()

    def wait(self):
        self.event.wait()


def sq(x):
    return x * x


def ident(x):
    return x


def noop(_x=None):
    return None


def sum_squares(n):
    return (n - 1) * n * (2 * n - 1) // 6 if n > 0 else 0


def check(what, got, want):
    if got != want:
        raise SystemExit(f"wrong result in {what}: got {got!r}, want {want!r}")


def new_pool():
    pool = ThreadPool(WORKERS)
    pool.map(lambda _: time.sleep(0.002), range(WORKERS), chunksize=1)
    pool.map(noop, range(2000))
    return pool


def now():
    return time.perf_counter_ns()


# Each workload takes a fresh warmed pool and its size; returns (elapsed ns, tasks or items).


def w1_apply_async(pool, n):
    latch = Latch(n)
    f = latch.count_down
    t = now()
    for _ in range(n):
        pool.apply_async(f)
    latch.wait()
    return now() - t, n


def w1_map_cs1(pool, n):
    t = now()
    s = sum(pool.map(sq, range(n), chunksize=1))
    d = now() - t
    check("W1 map(chunksize=1)", s, sum_squares(n))
    return d, n


def w1_map_default(pool, n):
    t = now()
    s = sum(pool.map(sq, range(n)))
    d = now() - t
    check("W1 map", s, sum_squares(n))
    return d, n


def w2_apply_async_get(pool, n):
    t = now()
    handles = [pool.apply_async(ident, (i,)) for i in range(n)]
    s = sum(h.get() for h in handles)
    d = now() - t
    check("W2", s, n * (n - 1) // 2)
    return d, n


def w3_imap_unordered_cs1(pool, n):
    t = now()
    s = sum(pool.imap_unordered(sq, range(n)))
    d = now() - t
    check("W3 imap_unordered", s, sum_squares(n))
    return d, n


def w3_imap_unordered_chunked(pool, n):
    t = now()
    s = sum(pool.imap_unordered(sq, range(n), chunksize=math.ceil(n / 8)))
    d = now() - t
    check("W3 imap_unordered chunked", s, sum_squares(n))
    return d, n


def w4_callback(pool, roots, length):
    total = roots * (length + 1)
    latch = Latch(total)

    def task(depth):
        latch.count_down()
        return depth

    def callback(depth):
        if depth < length:
            pool.apply_async(task, (depth + 1,), callback=callback)

    t = now()
    for _ in range(roots):
        pool.apply_async(task, (0,), callback=callback)
    latch.wait()
    return now() - t, total


def w4_inside_task(pool, roots, length):
    total = roots * (length + 1)
    latch = Latch(total)

    def task(depth):
        if depth < length:
            pool.apply_async(task, (depth + 1,))
        latch.count_down()

    t = now()
    for _ in range(roots):
        pool.apply_async(task, (0,))
    latch.wait()
    return now() - t, total


def task1(identifier):
    return (identifier, random.random())


def seed_manual(pool, n):
    """The tutorial's manual pattern: imap_unordered, follow-ups by apply_async, close, join."""
    done = itertools.count()

    def task2(identifier, result):
        next(done)
        return (identifier, result, random.random())

    t = now()
    issued = 0
    for i, v in pool.imap_unordered(task1, range(n)):
        if v > 0.5:
            pool.apply_async(task2, args=(i, v))
            issued += 1
    pool.close()
    pool.join()
    d = now() - t
    check("seed manual follow-ups", next(done), issued)
    return d, n + issued


def seed_callback(pool, n):
    """The tutorial's callback pattern: map_async whose callback issues the follow-ups."""
    done = itertools.count()
    issued = [0]

    def task2(identifier, result):
        next(done)
        return (identifier, result, random.random())

    def result_callback(results):
        for i, v in results:
            if v > 0.5:
                pool.apply_async(task2, args=(i, v))
                issued[0] += 1

    t = now()
    result = pool.map_async(task1, range(n), callback=result_callback)
    result.wait()
    pool.close()
    pool.join()
    d = now() - t
    check("seed callback follow-ups", next(done), issued[0])
    return d, n + issued[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--w1", type=int, default=100_000)
    ap.add_argument("--w2", type=int, default=50_000)
    ap.add_argument("--w3", type=int, default=200_000)
    ap.add_argument("--w4-roots", type=int, default=1_000)
    ap.add_argument("--chain-len", type=int, default=10)
    ap.add_argument("--seed-tasks", type=int, default=20_000)
    a = ap.parse_args()

    rows = [
        ("W1.apply_async", "ThreadPool.apply_async", lambda p: w1_apply_async(p, a.w1)),
        ("W1.map_cs1", "ThreadPool.map(chunksize=1)", lambda p: w1_map_cs1(p, a.w1)),
        ("W1.map_default", "ThreadPool.map(default chunksize)", lambda p: w1_map_default(p, a.w1)),
        ("W2.apply_async_get", "ThreadPool.apply_async+get", lambda p: w2_apply_async_get(p, a.w2)),
        ("W3.imap_unordered_cs1", "ThreadPool.imap_unordered(chunksize=1)", lambda p: w3_imap_unordered_cs1(p, a.w3)),
        ("W3.imap_unordered_chunked", "ThreadPool.imap_unordered(chunksize=ceil(n/8))", lambda p: w3_imap_unordered_chunked(p, a.w3)),
        ("W4.callback", "ThreadPool callback follow-up", lambda p: w4_callback(p, a.w4_roots, a.chain_len)),
        ("W4.inside_task", "ThreadPool follow-up inside task", lambda p: w4_inside_task(p, a.w4_roots, a.chain_len)),
        ("seed.manual", "seed manual: imap_unordered + apply_async", lambda p: seed_manual(p, a.seed_tasks)),
        ("seed.callback", "seed callback: map_async(callback=...)", lambda p: seed_callback(p, a.seed_tasks)),
    ]
    values = {key: [] for key, _, _ in rows}
    for rep in range(a.reps):
        for k in range(len(rows)):
            key, _, run = rows[(k + rep) % len(rows)]
            time.sleep(0.02)
            pool = new_pool()
            d, count = run(pool)
            pool.terminate()
            pool.join()
            values[key].append(d / count)
    for key, label, _ in rows:
        v = values[key]
        print(f"RESULT\t{key}\t{statistics.median(v)}\t{min(v)}\t{max(v)}\t{label}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
