#!/usr/bin/env python3
"""followup.ThreadPool against multiprocessing.pool.ThreadPool and ThreadPoolExecutor, in one
process, on the workloads of issue 8 (see BENCHMARKS.md, "Python package").

    python bench/python/binding.py            # full sizes, median of 5 (about a minute)
    python bench/python/binding.py --quick    # tiny sizes, one repetition: checks it runs

Workloads (every result is checked; pools are built and warmed outside the timed region):
  apply      100,000 trivial apply_async + get, 2 workers            us per task
  chains     1,000 chains x 10, each next task issued from a callback  us per task
  io         2,000 x sleep(1 ms), 100 workers                         efficiency vs floor
  cpu        2,000 pure-Python tasks (~100 us each), 2 workers         us per task
  imap       imap_unordered over 100,000 items, chunksize 1, 2 workers us per item

The floor of `io` is 2,000 x the measured length of time.sleep(0.001) / 100 workers.
Repetitions rotate across the pools so that machine noise spreads evenly; the machine is
shared and noisy, so read the ratios (same run), not the absolute times.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import statistics
import sys
import threading
import time
from multiprocessing.pool import ThreadPool as MpThreadPool

import followup

TARGETS = {
    "apply": ("<=", 0.1, "x mp.ThreadPool"),
    "chains": ("<=", 0.1, "x mp.ThreadPool"),
    "io": (">=", 0.85, "of the floor"),
    "cpu": ("<=", 1.0, "x mp.ThreadPool"),
}


class Sizes:
    def __init__(self, quick: bool) -> None:
        self.reps = 1 if quick else 5
        self.apply = 2_000 if quick else 100_000
        self.chains, self.chain_len = (50, 10) if quick else (1_000, 10)
        self.io = 200 if quick else 2_000
        self.cpu = 50 if quick else 2_000
        self.imap = 2_000 if quick else 100_000


# --- the pools, behind one small interface --------------------------------------------------

class Mp:
    name = "mp.ThreadPool"

    def __init__(self, workers: int) -> None:
        self.pool = MpThreadPool(workers)

    def submit(self, f, *args):
        return self.pool.apply_async(f, args)

    @staticmethod
    def result(r):
        return r.get()

    def submit_then(self, f, arg, then):
        self.pool.apply_async(f, (arg,), callback=then)

    def imap_unordered(self, f, it):
        return self.pool.imap_unordered(f, it)

    def close(self) -> None:
        self.pool.close()
        self.pool.join()


class Followup(Mp):
    name = "followup"

    def __init__(self, workers: int, parallel_callbacks: bool = False) -> None:
        self.pool = followup.ThreadPool(workers, parallel_callbacks=parallel_callbacks)
        if parallel_callbacks:
            self.name = "followup (parallel_callbacks)"


class Tpe:
    name = "ThreadPoolExecutor"

    def __init__(self, workers: int) -> None:
        self.pool = cf.ThreadPoolExecutor(workers)

    def submit(self, f, *args):
        return self.pool.submit(f, *args)

    @staticmethod
    def result(fut):
        return fut.result()

    def submit_then(self, f, arg, then):
        self.pool.submit(f, arg).add_done_callback(lambda fut: then(fut.result()))

    def imap_unordered(self, f, it):
        return (fut.result() for fut in cf.as_completed([self.pool.submit(f, x) for x in it]))

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def warm(pool, workers: int) -> None:
    rs = [pool.submit(time.sleep, 0.002) for _ in range(workers)]
    rs += [pool.submit(abs, -i) for i in range(200)]
    for r in rs:
        pool.result(r)


# --- the workloads: each returns (value, unit) for one repetition ----------------------------

def w_apply(pool, z: Sizes) -> float:
    t = time.perf_counter()
    rs = [pool.submit(abs, -i) for i in range(z.apply)]
    total = sum(pool.result(r) for r in rs)
    elapsed = time.perf_counter() - t
    assert total == z.apply * (z.apply - 1) // 2
    return elapsed / z.apply * 1e6


def w_chains(pool, z: Sizes) -> float:
    done = threading.Event()
    left = [z.chains]
    lock = threading.Lock()

    def step(n):
        return n + 1

    def then(n):
        if n < z.chain_len:
            pool.submit_then(step, n, then)
        else:
            with lock:
                left[0] -= 1
                if left[0] == 0:
                    done.set()

    t = time.perf_counter()
    for _ in range(z.chains):
        pool.submit_then(step, 0, then)
    assert done.wait(120), "chains did not finish"
    return (time.perf_counter() - t) / (z.chains * z.chain_len) * 1e6


def sleep_floor(n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        time.sleep(0.001)
    return (time.perf_counter() - t) / n


def w_io(pool, z: Sizes) -> float:
    floor = z.io * sleep_floor(200) / 100
    t = time.perf_counter()
    rs = [pool.submit(time.sleep, 0.001) for _ in range(z.io)]
    for r in rs:
        pool.result(r)
    return floor / (time.perf_counter() - t)


def spin(n: int) -> int:
    s = 0
    for i in range(n):
        s += i * i
    return s


CPU_N = 2_000  # ~100 us of pure Python on this machine


def w_cpu(pool, z: Sizes) -> float:
    t = time.perf_counter()
    rs = [pool.submit(spin, CPU_N) for _ in range(z.cpu)]
    assert all(pool.result(r) == spin(CPU_N) for r in rs[:3])
    for r in rs:
        pool.result(r)
    return (time.perf_counter() - t) / z.cpu * 1e6


def w_imap(pool, z: Sizes) -> float:
    t = time.perf_counter()
    total = sum(pool.imap_unordered(abs, range(-z.imap, 0)))
    elapsed = time.perf_counter() - t
    assert total == z.imap * (z.imap + 1) // 2
    return elapsed / z.imap * 1e6


WORKLOADS = [
    # key, function, workers, unit, pools
    ("apply", w_apply, 2, "us/task", [Mp, Tpe, Followup]),
    ("chains", w_chains, 2, "us/task", [Mp, Tpe, Followup, "parallel"]),
    ("io", w_io, 100, "of floor", [Mp, Tpe, Followup]),
    ("cpu", w_cpu, 2, "us/task", [Mp, Tpe, Followup]),
    ("imap", w_imap, 2, "us/item", [Mp, Tpe, Followup]),
]


def make(kind, workers: int):
    if kind == "parallel":
        return Followup(workers, parallel_callbacks=True)
    return kind(workers)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one repetition")
    ap.add_argument("--only", default="", help="comma-separated workloads to run")
    args = ap.parse_args()
    z = Sizes(args.quick)
    only = {w for w in args.only.split(",") if w}
    print(f"python {sys.version.split()[0]}, followup {followup.__version__}, "
          f"{'quick' if args.quick else 'full'} sizes, median of {z.reps}")
    print(f"{'workload':8} {'pool':32} {'median':>10} {'min':>9} {'max':>9}  unit")
    misses = 0
    for key, fn, workers, unit, kinds in WORKLOADS:
        if only and key not in only:
            continue
        samples: dict[str, list[float]] = {}
        for _ in range(z.reps):
            for kind in kinds:  # rotate pools within each repetition
                pool = make(kind, workers)
                warm(pool, workers)
                samples.setdefault(pool.name, []).append(fn(pool, z))
                pool.close()
                time.sleep(0.02)
        med = {name: statistics.median(v) for name, v in samples.items()}
        for name, v in samples.items():
            print(f"{key:8} {name:32} {med[name]:10.3f} {min(v):9.3f} {max(v):9.3f}  {unit}")
        ours, mp = med["followup"], med["mp.ThreadPool"]
        if key == "io":
            line = f"   followup {ours:.2f} of the floor (mp {mp:.2f}, TPE {med['ThreadPoolExecutor']:.2f})"
            ratio = ours
        else:
            ratio = ours / mp
            line = (f"   followup/mp {ratio:.3f}, followup/TPE "
                    f"{ours / med['ThreadPoolExecutor']:.3f}")
        if key in TARGETS:
            op, bound, what = TARGETS[key]
            met = ratio <= bound if op == "<=" else ratio >= bound
            misses += not met
            line += f"  target {op} {bound} {what}: {'met' if met else 'MISSED'}"
        print(line)
    if not args.quick:
        print(f"{misses} target(s) missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
