"""The tutorial's two follow-up programs, each written three ways on followup.ThreadPool:
Python-style (as the tutorial), with continuations, and with an as-completed set. All six
give the same follow-up results.

    python examples/three_ways.py

The random values are drawn per task identifier (so the results do not depend on which
task runs first) and the sleeps are scaled down.
"""

import random
import threading
import time

from followup import ThreadPool

SCALE = 0.02  # seconds of sleep per unit of random value


def task1(identifier):
    value = random.Random(identifier).random()
    time.sleep(value * SCALE)
    print(f">{identifier} generated {value}")
    return (identifier, value)


def task2(identifier, result):
    value = random.Random(1000 + identifier).random()
    time.sleep(value * SCALE)
    print(f">>{identifier} with {result}, generated {value}")
    return (identifier, result, value)


def passes(pair):
    return pair[1] > 0.5


# --- the manual pattern: results as they complete, follow-ups issued by the loop -------------

def manual_python_style():
    """The tutorial: imap_unordered, apply_async, close, join (results collected by hand)."""
    follow_ups = []
    with ThreadPool() as pool:
        for i, v in pool.imap_unordered(task1, range(10)):
            if v > 0.5:
                follow_ups.append(pool.apply_async(task2, args=(i, v)))
        pool.close()
        pool.join()
    return sorted(r.get() for r in follow_ups)


def manual_continuations():
    """Each first-round task carries its conditional follow-up: ``when(test, follow-up)``."""
    with ThreadPool() as pool:
        chained = [
            pool.apply_async(task1, (i,)).when(passes, lambda pair: task2(*pair))
            for i in range(10)
        ]
        pool.close()
        pool.join()  # waits for every continuation too
    return sorted(r.get() for r in chained if r.get() is not None)


def manual_as_completed():
    """One loop over an as-completed set to which the loop adds the follow-ups: their
    results come back through the same loop."""
    results = []
    with ThreadPool() as pool:
        done = pool.as_completed([pool.apply_async(task1, (i,)) for i in range(10)])
        for r in done:
            value = r.get()
            if len(value) == 2:  # a first-round result
                if passes(value):
                    done.apply_async(task2, value)
            else:  # a follow-up's result
                results.append(value)
    return sorted(results)


# --- the callback pattern: follow-ups issued from callbacks ---------------------------------

def callback_python_style():
    """The tutorial: map_async whose callback issues the follow-ups."""
    follow_ups = []
    lock = threading.Lock()
    with ThreadPool() as pool:
        def result_callback(result_iterator):
            for i, v in result_iterator:
                if v > 0.5:
                    with lock:
                        follow_ups.append(pool.apply_async(task2, args=(i, v)))

        result = pool.map_async(task1, range(10), callback=result_callback)
        result.wait()
        pool.close()
        pool.join()
    return sorted(r.get() for r in follow_ups)


def callback_continuations():
    """The map's result, continued: one follow-up per passing pair, gathered with ``all``."""
    with ThreadPool() as pool:
        pairs = pool.map_async(task1, range(10))
        gathered = pairs.and_then(
            lambda ps: pool.all([pool.apply_async(task2, p) for p in ps if passes(p)]))
        values = gathered.get()
        pool.close()
        pool.join()
    return sorted(values)


def callback_as_completed():
    """Per-item callbacks issue each follow-up as soon as its first-round item is done (not
    at the end of the map), into an as-completed set that yields their results."""
    with ThreadPool() as pool:
        done = pool.as_completed()

        def on_item(_index, pair):
            if passes(pair):
                done.apply_async(task2, pair)

        first_round = pool.map_async(task1, range(10), on_item=on_item)
        done.add(first_round)  # keeps the set open until every on_item has run
        results = [r.get() for r in done if r is not first_round]
        pool.close()
        pool.join()
    return sorted(results)


WAYS = [manual_python_style, manual_continuations, manual_as_completed,
        callback_python_style, callback_continuations, callback_as_completed]


if __name__ == "__main__":
    outcomes = {}
    for way in WAYS:
        print(f"# {way.__name__}")
        outcomes[way.__name__] = way()
    reference = outcomes["manual_python_style"]
    for name, got in outcomes.items():
        assert got == reference, (name, got, reference)
    print(f"All six ways gave the same {len(reference)} follow-up results.")
    print("All done.")
