"""imap/imap_unordered: lazy input in a bounded window, results flowing while the input
waits, feedback loops, and what close()/join()/terminate() do to a stream."""

import itertools
import queue
import threading
import time

import pytest

import followup
from conftest import WAIT


def test_input_is_read_lazily_a_bounded_window_ahead(pool):
    pulled = [0]

    def counting():
        for i in itertools.count():
            pulled[0] += 1
            yield i

    it = pool.imap(abs, counting())
    assert [it.next(timeout=WAIT) for _ in range(10)] == list(range(10))
    time.sleep(0.1)  # let the feeder run as far as it may
    assert pulled[0] < 10 + 5000  # an infinite input, read only a window ahead
    del it  # dropping the iterator stops the feeder


def test_results_flow_while_the_input_blocks(pool):
    q = queue.Queue()

    def from_queue():
        while True:
            item = q.get(timeout=WAIT)
            if item is None:
                return
            yield item

    it = pool.imap_unordered(abs, from_queue())
    q.put(-1)
    assert it.next(timeout=WAIT) == 1  # delivered although the input is blocked
    q.put(-2)
    assert it.next(timeout=WAIT) == 2
    q.put(None)
    with pytest.raises(StopIteration):
        it.next(timeout=WAIT)


def test_a_loop_feeding_follow_ups_back_into_its_own_input(pool):
    q = queue.Queue()
    q.put(0)

    def feed():
        while True:
            item = q.get(timeout=WAIT)
            if item is None:
                return
            yield item

    seen = []
    for v in pool.imap_unordered(lambda x: x + 1, feed()):
        seen.append(v)
        q.put(v if v < 50 else None)
    assert seen == list(range(1, 51))


def test_a_slow_item_holds_no_finished_sibling_back_in_imap_unordered(pool):
    gate = threading.Event()

    def f(i):
        if i == 0:
            gate.wait(WAIT)
        return i

    it = pool.imap_unordered(f, range(4))
    first_three = {it.next(timeout=WAIT) for _ in range(3)}
    assert first_three == {1, 2, 3}
    gate.set()
    assert it.next(timeout=WAIT) == 0


def test_results_can_be_read_after_close_and_join():
    pool = followup.ThreadPool(2)
    it = pool.imap(abs, range(-3000, 0))  # larger than the window: close() lifts it
    pool.close()
    pool.join()
    assert list(it) == list(range(3000, 0, -1))


def test_terminate_ends_a_stream_whose_input_is_blocked():
    pool = followup.ThreadPool(2)
    blocker = threading.Event()

    def gen():
        yield -1
        blocker.wait(WAIT)  # Python's terminate() would hang here (E21)
        yield -2

    it = pool.imap(abs, gen())
    assert it.next(timeout=WAIT) == 1
    pool.terminate()
    pool.join()
    with pytest.raises(StopIteration):
        it.next(timeout=WAIT)
    blocker.set()


def test_starmap_style_inputs_and_order(pool):
    assert list(pool.imap(abs, [-3, -2, -1])) == [3, 2, 1]
    slow_first = list(pool.imap(lambda i: (time.sleep(0.05 if i == 0 else 0), i)[1], range(5)))
    assert slow_first == list(range(5))
