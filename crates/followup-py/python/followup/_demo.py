"""The tutorial's two follow-up programs, run on ``followup.ThreadPool`` (``python -m followup``).

Each task draws a random number, sleeps that many seconds (times ``time_scale``), reports
it and returns it; results above ``threshold`` get a follow-up task. ``manual`` iterates
``imap_unordered`` and issues follow-ups with ``apply_async``; ``callback`` issues them from
the ``map_async`` callback. Both then ``close()`` and ``join()``, and print "All done.".
"""

from __future__ import annotations

import random
import time

from .pool import ThreadPool


class Demo:
    """The tutorial's task1/task2 with a seeded generator and a time scale."""

    def __init__(self, tasks: int = 10, threshold: float = 0.5, time_scale: float = 1.0,
                 seed: int | None = None, workers: int | None = None) -> None:
        self.tasks = tasks
        self.threshold = threshold
        self.time_scale = time_scale
        self.workers = workers
        self._random = random.Random(seed)

    def _draw(self) -> float:
        return self._random.random()  # Random's methods are thread-safe under the GIL

    def task1(self, identifier: int) -> tuple[int, float]:
        value = self._draw()
        time.sleep(value * self.time_scale)
        print(f">{identifier} generated {value}", flush=True)
        return (identifier, value)

    def task2(self, identifier: int, result: float) -> tuple[int, float, float]:
        value = self._draw()
        time.sleep(value * self.time_scale)
        print(f">>{identifier} with {result}, generated {value}", flush=True)
        return (identifier, result, value)

    def manual(self) -> None:
        """Iterate results as they complete; issue a follow-up where one passes the test."""
        with ThreadPool(self.workers) as pool:
            for i, v in pool.imap_unordered(self.task1, range(self.tasks)):
                if v > self.threshold:
                    pool.apply_async(self.task2, args=(i, v))
            pool.close()
            pool.join()
        print("All done.", flush=True)

    def callback(self) -> None:
        """The map_async callback issues the follow-ups."""
        with ThreadPool(self.workers) as pool:
            def result_callback(results):
                for i, v in results:
                    if v > self.threshold:
                        pool.apply_async(self.task2, args=(i, v))

            result = pool.map_async(self.task1, range(self.tasks), callback=result_callback)
            result.wait()
            pool.close()
            pool.join()
        print("All done.", flush=True)
