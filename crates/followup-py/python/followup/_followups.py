"""The follow-up primitives, in Python on the core's three hooks.

The core gives every ``AsyncResult`` ``add_done_callback`` (run on the pool's callback
thread, counted by ``join()``), ``cancel()``, and promises (``_promise``, ``_set_result``,
``_set_exception``: results this module resolves, also counted by ``join()``). Everything
here is built from those, so the rules are the same everywhere:

- **Continuations** (``map``, ``then``, ``recover``, ``and_then``, ``when``) run as tasks of
  their own on the workers; the small decisions between them (which one to issue, ``when``'s
  test) run on the callback thread, like callbacks. Each returns a new ``AsyncResult`` at
  once, resolved with the continuation's value; cancelling it cancels the continuation.
- A continuation is issued from inside the pool, so it is accepted after ``close()``, and
  the parent counts for ``join()`` until its continuations are issued: ``close()`` +
  ``join()`` waits for every continuation, however long the chain.

>>> import followup, time
>>> pool = followup.ThreadPool(2)
>>> r = pool.apply_async(abs, (-3,))
>>> r.map(lambda v: v * 10).get(5)
30
>>> r.when(lambda v: v > 2, lambda v: ("follow-up", v)).get(5)  # the tutorial's test
('follow-up', 3)
>>> r.when(lambda v: v > 5, lambda v: "never").get(5) is None
True
>>> pool.apply_async(int, ("x",)).recover(lambda exc: type(exc).__name__).get(5)
'ValueError'
>>> r.and_then(lambda v: pool.apply_async(pow, (v, 2))).get(5)  # a follow-up that issues one
9
>>> slow = pool.apply_async(time.sleep, (0.5,))
>>> try:
...     slow.timeout(0.05).get(5)          # a deadline on the work itself
... except followup.DeadlineExceeded:
...     print("too late")
too late
>>> pool.all([pool.apply_async(abs, (-i,)) for i in range(3)]).get(5)
[0, 1, 2]
>>> pool.close(); pool.join()
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import heapq
import itertools
import sys
import threading
import time

from ._errors import DeadlineExceeded, GroupError

__all__ = ["AsCompleted", "TaskGroup"]


def _exception(result):
    """The exception of a ready, failed result."""
    try:
        result.get(timeout=0)
    except BaseException as exc:  # noqa: BLE001 - any outcome is data here
        return exc
    return None


def _settle_from(child, result) -> None:
    """Resolves promise `child` with the outcome of the ready `result`."""
    exc = _exception(result)
    if exc is None:
        child._set_result(result.get(timeout=0))
    else:
        child._set_exception(exc)


def default_chunksize(n: int, workers: int) -> int:
    """Python's default chunk size for ``map``: ``ceil(n / (4 * workers))``, at least 1."""
    return max(1, -(-n // (4 * workers)))


def _issue(child, via, func, args, on_value=None) -> None:
    """Issues `func(*args)` as a task whose outcome resolves `child` (its value goes to
    `on_value` instead when given); cancelling `child` cancels the task."""
    if child.ready():  # cancelled before its parent finished
        return
    try:
        task = via._submit(func, args, on_value or child._set_result, child._set_exception)
    except BaseException as exc:  # the pool was terminated meanwhile
        child._set_exception(exc)
        return
    child.add_done_callback(lambda c: task.cancel() if c.cancelled() else None)


def map(parent, func):  # noqa: A001 - the method's name
    child = parent._promise()

    def on_done(r):
        exc = _exception(r)
        if exc is not None:
            child._set_exception(exc)
        else:
            _issue(child, r, func, (r.get(timeout=0),))

    parent.add_done_callback(on_done)
    return child


def then(parent, func):
    child = parent._promise()
    parent.add_done_callback(lambda r: _issue(child, r, func, (r,)))
    return child


def recover(parent, func):
    child = parent._promise()

    def on_done(r):
        exc = _exception(r)
        if exc is None:
            child._set_result(r.get(timeout=0))
        else:
            _issue(child, r, func, (exc,))

    parent.add_done_callback(on_done)
    return child


def and_then(parent, func):
    child = parent._promise()

    def adopt(inner):
        if not hasattr(inner, "add_done_callback") or not hasattr(inner, "_promise"):
            child._set_exception(TypeError(
                f"and_then: the function must return an AsyncResult (issue a follow-up and "
                f"return its result), not {type(inner).__name__}; use map() for a plain value"))
            return
        inner.add_done_callback(lambda i: _settle_from(child, i))

    def on_done(r):
        exc = _exception(r)
        if exc is not None:
            child._set_exception(exc)
            return
        _issue(child, r, func, (r.get(timeout=0),), on_value=adopt)

    parent.add_done_callback(on_done)
    return child


def when(parent, test, func):
    child = parent._promise()

    def on_done(r):
        exc = _exception(r)
        if exc is not None:
            child._set_exception(exc)
            return
        value = r.get(timeout=0)
        try:
            passed = test(value)
        except BaseException as e:
            child._set_exception(e)
            return
        if passed:
            _issue(child, r, func, (value,))
        else:
            child._set_result(None)

    parent.add_done_callback(on_done)
    return child


# --- deadlines ---------------------------------------------------------------------------------

class _Timer:
    """One daemon thread that fires deadlines in order (a heap and a condition)."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._heap: list = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def at(self, when: float, action) -> None:
        with self._cv:
            heapq.heappush(self._heap, (when, next(self._order), action))
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="followup-deadlines",
                                          daemon=True)
                thread.start()
                self._thread = thread
            self._cv.notify()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    delay = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cv.wait(delay)
                _, _, action = heapq.heappop(self._heap)
            try:
                action()
            except BaseException:  # pragma: no cover - actions only settle promises
                pass


_TIMER = _Timer()


def deadline(parent, seconds: float):
    if not seconds >= 0:  # also refuses NaN
        raise ValueError(f"a deadline needs a number of seconds >= 0, got {seconds!r}")
    child = parent._promise()
    expired = [False]

    def on_done(r):
        if not expired[0]:
            _settle_from(child, r)

    def expire():
        if parent.ready():
            return
        expired[0] = True
        # Stop the work first (work that has not started never starts), then publish.
        stopped = parent.cancel()
        how = ("cancelled before it started" if stopped
               else getattr(parent, "_RUNNING_NOTE",
                            "asked to stop (followup.is_cancelled() is now True inside it)"))
        child._set_exception(DeadlineExceeded(
            f"the task did not finish within its deadline of {seconds} s; it was {how}"))

    parent.add_done_callback(on_done)
    if seconds < 1e9:  # beyond ~30 years: no deadline at all
        _TIMER.at(time.monotonic() + seconds, expire)
    return child


# --- concurrent.futures and asyncio --------------------------------------------------------

def as_future(result) -> concurrent.futures.Future:
    future: concurrent.futures.Future = concurrent.futures.Future()
    future.set_running_or_notify_cancel()

    def on_done(r):
        exc = _exception(r)
        if exc is None:
            future.set_result(r.get(timeout=0))
        else:
            future.set_exception(exc)

    result.add_done_callback(on_done)
    return future


def await_result(result):
    return asyncio.wrap_future(as_future(result)).__await__()


# --- the as-completed set ----------------------------------------------------------------------

class AsCompleted:
    """Results in completion order, from a set you can add to while iterating.

    Iteration yields each added ``AsyncResult`` once it is ready (call ``get()`` on it) and
    ends exactly when every added result has been yielded, so a follow-up added by a task,
    a callback or the loop itself before its parent is consumed is always waited for.
    Adding to a set whose iteration has ended raises ``RuntimeError``.

    >>> import followup
    >>> pool = followup.ThreadPool(2)
    >>> done = pool.as_completed([pool.apply_async(abs, (-i,)) for i in range(3)])
    >>> seen = []
    >>> for r in done:
    ...     v = r.get()
    ...     seen.append(v)
    ...     if v == 2:
    ...         _ = done.apply_async(abs, (-20,))  # a follow-up, yielded by this loop
    >>> sorted(seen)
    [0, 1, 2, 20]
    >>> pool.close(); pool.join()
    """

    def __init__(self, pool, results=()) -> None:
        self._pool = pool
        self._cv = threading.Condition()
        self._ready: collections.deque = collections.deque()
        self._pending = 0
        self._finished = False
        for r in results:
            self.add(r)

    def add(self, result) -> None:
        """Adds a result (from any thread: the loop, a task, a callback)."""
        with self._cv:
            if self._finished:
                raise RuntimeError("cannot add to an as-completed set whose iteration has ended")
            self._pending += 1
        result.add_done_callback(self._arrived)

    def apply_async(self, func, args=(), kwds={}, callback=None, error_callback=None):
        """``pool.apply_async(...)``, added to this set; returns the result."""
        r = self._pool.apply_async(func, args, kwds, callback, error_callback)
        self.add(r)
        return r

    def _arrived(self, result) -> None:
        with self._cv:
            self._ready.append(result)
            self._cv.notify()

    def __iter__(self) -> AsCompleted:
        return self

    def __next__(self):
        return self.next()

    def next(self, timeout: float | None = None):
        """The next ready result; ``multiprocessing.TimeoutError`` after ``timeout`` s."""
        import multiprocessing

        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            while not self._ready:
                if self._pending == 0:
                    self._finished = True
                    raise StopIteration
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise multiprocessing.TimeoutError
                self._cv.wait(remaining)
            self._pending -= 1
            return self._ready.popleft()

    def __len__(self) -> int:
        """Results added and not yet yielded."""
        with self._cv:
            return self._pending


# --- task groups --------------------------------------------------------------------------------

_inside = threading.local()


def _group_error(errors):
    if sys.version_info >= (3, 11):
        cls = ExceptionGroup if all(isinstance(e, Exception) for e in errors) \
            else BaseExceptionGroup  # noqa: F821 - builtins on 3.11+
        return cls(f"{len(errors)} task(s) of the group failed", errors)
    return GroupError(f"{len(errors)} task(s) of the group failed", errors)


class TaskGroup:
    """Waits for a growing tree of work without closing the pool.

    ``with pool.group() as g:`` — submit through ``g`` (from the body, from the group's own
    tasks, from callbacks); leaving the block waits until every task of the group, including
    those added meanwhile, is done. If any failed, it raises an ``ExceptionGroup`` of their
    exceptions in the order they failed (before Python 3.11: ``followup.GroupError``, with
    the same ``exceptions`` attribute). If the body raises, the group's tasks that have not
    started are cancelled, the running ones awaited, and the body's exception propagates.
    Cancelled tasks are not errors.

    >>> import followup
    >>> pool = followup.ThreadPool(2)
    >>> found = []
    >>> def walk(g, n):
    ...     found.append(n)
    ...     if n < 8:
    ...         g.apply_async(walk, (g, 2 * n))
    ...         g.apply_async(walk, (g, 2 * n + 1))
    >>> with pool.group() as g:
    ...     _ = g.apply_async(walk, (g, 1))
    >>> sorted(found) == list(range(1, 16))
    True
    >>> pool.close(); pool.join()
    """

    def __init__(self, pool) -> None:
        self._pool = pool
        self._cv = threading.Condition()
        self._pending = 0
        self._live: set = set()
        self._errors: list = []
        self._cancelled = False

    def _run_inside(self, func):
        if getattr(self._pool, "_tasks_elsewhere", False):
            return func  # tasks in other processes (Dask) cannot wait for this group anyway

        def run(*args, **kwds):
            stack = getattr(_inside, "groups", None)
            if stack is None:
                stack = _inside.groups = []
            stack.append(self)
            try:
                return func(*args, **kwds)
            finally:
                stack.pop()

        return run

    def add(self, result):
        """Makes `result` (any ``AsyncResult``, a continuation say) part of the group."""
        with self._cv:
            self._pending += 1
            self._live.add(result)
        result.add_done_callback(self._done)
        return result

    def apply_async(self, func, args=(), kwds={}, callback=None, error_callback=None):
        """``pool.apply_async(...)`` as a task of this group."""
        if self._cancelled:
            raise concurrent.futures.CancelledError("the task group was cancelled")
        r = self._pool.apply_async(self._run_inside(func), args, kwds, callback, error_callback)
        return self.add(r)

    def map_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        """``pool.map_async(...)`` as one task of this group."""
        if self._cancelled:
            raise concurrent.futures.CancelledError("the task group was cancelled")
        r = self._pool.map_async(self._run_inside(func), iterable, chunksize, callback,
                                 error_callback)
        return self.add(r)

    def _done(self, result) -> None:
        exc = None if result.cancelled() else _exception(result)
        with self._cv:
            self._live.discard(result)
            if exc is not None and not isinstance(exc, concurrent.futures.CancelledError):
                self._errors.append(exc)
            self._pending -= 1
            if self._pending == 0:
                self._cv.notify_all()

    def cancel(self) -> None:
        """Cancels every task of the group that has not started, and refuses new ones."""
        self._cancelled = True
        with self._cv:
            live = list(self._live)
        for r in live:
            r.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        """Waits until the group is empty; False if `timeout` passed first."""
        if self in (getattr(_inside, "groups", None) or ()):
            raise RuntimeError(
                "a task of a group waited for its own group, which would wait for itself")
        with self._cv:
            return self._cv.wait_for(lambda: self._pending == 0, timeout)

    @property
    def errors(self) -> list:
        """The exceptions of the group's failed tasks so far, in the order they failed."""
        with self._cv:
            return list(self._errors)

    def __enter__(self) -> TaskGroup:
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.cancel()
            self.wait()
            return False
        self.wait()
        if self._errors:
            raise _group_error(self.errors)
        return False


# --- fan-in -------------------------------------------------------------------------------------

def _fan_in_promise(pool, results):
    results = list(results)
    if results:
        return results, results[0]._promise()
    return results, pool._promise()


def all_of(pool, results):
    results, promise = _fan_in_promise(pool, results)
    if not results:
        promise._set_result([])
        return promise
    values = [None] * len(results)
    left = [len(results)]
    lock = threading.Lock()

    def on_done(i, r):
        exc = _exception(r)
        if exc is not None:
            if promise._set_exception(exc):
                for other in results:
                    other.cancel()
            return
        values[i] = r.get(timeout=0)
        with lock:
            left[0] -= 1
            last = left[0] == 0
        if last:
            promise._set_result(values)

    for i, r in enumerate(results):
        r.add_done_callback(lambda r, i=i: on_done(i, r))
    return promise


def all_settled(pool, results):
    results, promise = _fan_in_promise(pool, results)
    if not results:
        promise._set_result([])
        return promise
    left = [len(results)]
    lock = threading.Lock()

    def on_done(_r):
        with lock:
            left[0] -= 1
            last = left[0] == 0
        if last:
            promise._set_result(list(results))

    for r in results:
        r.add_done_callback(on_done)
    return promise


def any_of(pool, results):
    results = list(results)
    if not results:
        raise ValueError("any() needs at least one result")
    promise = results[0]._promise()
    errors = [None] * len(results)
    left = [len(results)]
    lock = threading.Lock()

    def on_done(i, r):
        exc = _exception(r)
        if exc is None:
            if promise._set_result(r.get(timeout=0)):
                for other in results:
                    other.cancel()
            return
        with lock:
            errors[i] = exc
            left[0] -= 1
            last = left[0] == 0
        if last:
            promise._set_exception(_group_error(errors))

    for i, r in enumerate(results):
        r.add_done_callback(lambda r, i=i: on_done(i, r))
    return promise


# --- per-item callbacks for map_async ----------------------------------------------------------

def map_with_items(pool, func, iterable, chunksize, callback, error_callback, on_item):
    """``map_async`` whose ``on_item(index, value)`` runs for each item as it completes."""
    pool._check_running()
    items = list(iterable)
    if chunksize is None:
        chunksize = default_chunksize(len(items), pool._processes)
    elif chunksize < 1:
        raise ValueError(f"Chunksize must be 1+, not {chunksize}")
    promise = pool._promise()
    values = [None] * len(items)
    starts = range(0, len(items), chunksize)
    state = {"left": len(starts), "error": None}
    lock = threading.Lock()

    def record(index, exc):
        with lock:
            if state["error"] is None or index < state["error"][0]:
                state["error"] = (index, exc)

    def finish():
        error = state["error"]
        if error is not None:
            exc = error[1]
            if error_callback is not None:
                try:
                    error_callback(exc)
                except BaseException as raised:
                    raised.__context__ = raised.__context__ or exc
                    exc = raised
            promise._set_exception(exc)
            return
        if callback is not None:
            try:
                callback(values)
            except BaseException as raised:
                promise._set_exception(raised)
                return
        promise._set_result(values)

    def chunk_done():
        with lock:
            state["left"] -= 1
            last = state["left"] == 0
        if last:
            finish()

    def run_chunk(start, chunk):
        out = []
        for x in chunk:
            try:
                out.append((True, func(x)))
            except BaseException as exc:
                out.append((False, exc))
                break  # as map: a chunk stops at its first exception
        return start, out

    def deliver(report):
        start, out = report
        for k, (ok, value) in enumerate(out):
            if not ok:
                record(start + k, value)
                continue
            values[start + k] = value
            try:
                on_item(start + k, value)
            except BaseException as exc:
                record(start + k, exc)
        chunk_done()

    def lost(start, exc):
        record(start, exc)
        chunk_done()

    if not items:
        finish()
        return promise
    for start in starts:
        try:
            pool.apply_async(run_chunk, (start, items[start:start + chunksize]),
                             callback=deliver,
                             error_callback=lambda exc, start=start: lost(start, exc))
        except BaseException as exc:  # terminated meanwhile
            lost(start, exc)
    return promise
