"""``followup.ThreadPool``: Python's ``multiprocessing.pool.ThreadPool`` on the followup engine.

The hot paths live in the Rust core (``followup._followup.Pool``); this module adds what
Python users expect of the class itself: the context manager, ``repr``, the
``ResourceWarning`` of an unclosed pool, pickling refused, and ``_pool``.
"""

from __future__ import annotations

import concurrent.futures
import threading
import warnings
from multiprocessing.pool import CLOSE, RUN, TERMINATE

from . import _followup, _followups
from ._progress import map_with_progress, progress_reporter

__all__ = ["ThreadPool", "RUN", "CLOSE", "TERMINATE"]


class _Worker:
    """One entry of ``ThreadPool._pool``: a worker thread, as far as callers look at it."""

    __slots__ = ("_pool", "name")

    def __init__(self, pool: ThreadPool, index: int) -> None:
        self._pool = pool
        self.name = f"followup-py-{index}"

    def is_alive(self) -> bool:
        """True until the pool has been joined."""
        return self._pool._workers_alive()

    def __repr__(self) -> str:
        state = "alive" if self.is_alive() else "stopped"
        return f"<followup worker {self.name} {state}>"


class ThreadPool(_followup.Pool, concurrent.futures.Executor):
    """A pool of worker threads, a drop-in for ``multiprocessing.pool.ThreadPool``.

    ``ThreadPool(processes=None, initializer=None, initargs=())`` starts ``processes``
    workers (``os.cpu_count()`` by default); ``initializer(*initargs)`` runs once in each
    worker before its first task, and if it raises, the constructor raises it (Python's pool
    would hang with dead workers).

    Every method of Python's pool is here with the same arguments, defaults, return types and
    exceptions: ``apply``, ``apply_async``, ``map``, ``map_async``, ``starmap``,
    ``starmap_async``, ``imap``, ``imap_unordered``, ``close``, ``join``, ``terminate``, and
    ``with ThreadPool() as pool:`` (which terminates on exit, as Python's does).

    Where followup differs, on purpose:

    - **Follow-ups after close().** Tasks and callbacks of this pool may still submit work
      after ``close()``; ``join()`` waits for the whole follow-up tree. From any other
      thread, submitting after ``close()`` raises ``ValueError("Pool not running")``.
    - **Callbacks** run one at a time on one thread, off the workers, before the result is
      ready, as in Python. ``parallel_callbacks=True`` runs them on the worker that finished
      the task instead (less latency; callbacks of different tasks then run in parallel). A
      callback that raises makes its exception the job's result: ``get()`` raises it and
      nothing hangs (CPython gh-83371).
    - **terminate()** resolves every queued result with :class:`followup.PoolTerminated`
      instead of leaving it pending forever.
    - **imap/imap_unordered** read their input lazily, a bounded window ahead of the
      consumer; an exception raised by the function is raised for its own item and the
      iteration goes on, for every chunk size; ``next(timeout)`` works for every chunk size.
    - **map** raises the exception of the lowest failing index (Python: the first to
      arrive); a ``chunksize`` below 1 is a ``ValueError`` (Python silently returns
      ``[None] * n``); on an empty input the callback is called with ``[]``.
    - A task raising ``BaseException`` (``SystemExit``, ``KeyboardInterrupt``) fails its own
      result instead of killing a worker.

    >>> from followup import ThreadPool
    >>> with ThreadPool(2) as pool:
    ...     pool.map(abs, [-1, -2, 3])
    [1, 2, 3]
    """

    def __new__(cls, processes=None, initializer=None, initargs=(), *, client=None, **options):
        # ThreadPool(client=dask_client) runs the same API on a Dask cluster; the backend is
        # imported only then, so the local pool never pays for it.
        if client is not None:
            from .dask import DaskThreadPool

            return DaskThreadPool(processes, initializer, initargs, client=client, **options)
        return super().__new__(cls, processes, initializer, initargs, **options)

    def __repr__(self) -> str:
        cls = type(self)
        return (
            f"<{cls.__module__}.{cls.__qualname__} "
            f"state={self._state} pool_size={self._processes}>"
        )

    def __enter__(self) -> ThreadPool:
        self._check_running()
        return self

    def __exit__(self, exc_type, exc_val, exc_tb) -> None:
        self.terminate()

    def __del__(self, _warn=warnings.warn, RUN=RUN) -> None:
        # As Python's pool: a running pool that is garbage-collected warns. Its queued work
        # still runs; its threads then exit.
        if getattr(self, "_state", None) == RUN:
            _warn(
                f"unclosed running multiprocessing pool {self!r}",
                ResourceWarning,
                source=self,
            )

    @property
    def _pool(self) -> list[_Worker]:
        """One entry per worker thread (CPython's tests count them)."""
        return [_Worker(self, i) for i in range(self._processes)]

    # --- progress: the same streams, with a bar or a callback ---------------------------------

    def map(self, func, iterable, chunksize=None, *, progress=None):
        """``func`` applied to every item, as a list in input order (Python's ``map``).

        ``progress=True`` draws a tqdm bar (``pip install tqdm``); a callable is called as
        ``progress(done, total)`` after each item, on the consumer's thread.
        """
        if progress is None:
            return super().map(func, iterable, chunksize)
        items = list(iterable)
        if chunksize is None:
            chunksize = _followups.default_chunksize(len(items), self._processes)
        return map_with_progress(super().imap, func, items, chunksize, progress)

    def imap(self, func, iterable, chunksize=1, *, progress=None):
        """A lazy iterator of ``func(item)`` in input order (``progress`` as for ``map``)."""
        it = super().imap(func, iterable, chunksize)
        return it if progress is None else _Progressed(it, progress, iterable)

    def imap_unordered(self, func, iterable, chunksize=1, *, progress=None):
        """A lazy iterator of ``func(item)`` in completion order (``progress`` as for ``map``)."""
        it = super().imap_unordered(func, iterable, chunksize)
        return it if progress is None else _Progressed(it, progress, iterable)

    def map_async(self, func, iterable, chunksize=None, callback=None, error_callback=None,
                  *, on_item=None):
        """``func`` applied to every item; one result for the list (Python's ``map_async``).

        ``on_item(index, value)`` is called for each item as soon as it is computed, one at a
        time on the callback thread, before ``callback``; what it raises becomes the job's
        result, as for callbacks.
        """
        if on_item is None:
            return super().map_async(func, iterable, chunksize, callback, error_callback)
        return _followups.map_with_items(self, func, iterable, chunksize, callback,
                                         error_callback, on_item)

    # --- the follow-up primitives ------------------------------------------------------------

    def as_completed(self, results=()) -> _followups.AsCompleted:
        """A set of results yielded in completion order, to which you can add while
        iterating (from the loop, tasks or callbacks); see :class:`followup.AsCompleted`."""
        return _followups.AsCompleted(self, results)

    def group(self) -> _followups.TaskGroup:
        """A :class:`followup.TaskGroup`: ``with pool.group() as g:`` waits for a growing
        tree of work without closing the pool."""
        return _followups.TaskGroup(self)

    def all(self, results):
        """One result with every value, in order; the first failure resolves it at once and
        cancels the inputs that have not started."""
        return _followups.all_of(self, results)

    def all_settled(self, results):
        """One result with the list of the (ready) input results once all are done; it never
        fails."""
        return _followups.all_settled(self, results)

    def any(self, results):
        """The first value to succeed (the other inputs are then cancelled if not started);
        if every input fails, an ``ExceptionGroup`` of their exceptions."""
        return _followups.any_of(self, results)

    # --- concurrent.futures.Executor ---------------------------------------------------------

    def submit(self, fn, /, *args, **kwargs) -> concurrent.futures.Future:
        """Runs ``fn(*args, **kwargs)`` on the pool and returns a real
        ``concurrent.futures.Future`` (for ``asyncio``, ``concurrent.futures.wait`` and
        ``as_completed``). After ``shutdown()``/``close()``: ``RuntimeError``, as executors."""
        future: concurrent.futures.Future = concurrent.futures.Future()

        def run():
            if not future.set_running_or_notify_cancel():
                return
            try:
                value = fn(*args, **kwargs)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(value)

        try:
            task = self.apply_async(run)
        except ValueError:
            if self._state == RUN:
                raise
            raise RuntimeError("cannot schedule new futures after shutdown") from None
        tracked = self.__dict__.setdefault("_submitted", {})
        lock = self.__dict__.setdefault("_submitted_lock", threading.Lock())
        with lock:
            tracked[id(task)] = (future, task)
        task.add_done_callback(lambda t: _forget(lock, tracked, t))
        return future

    def shutdown(self, wait=True, *, cancel_futures=False) -> None:
        """``concurrent.futures.Executor.shutdown``: no new work from outside (``close()``);
        ``cancel_futures`` cancels the futures of ``submit`` that have not started (and
        ``as_completed``/``wait`` see them, unlike CPython's gh-87893); ``wait`` joins."""
        self.close()
        if cancel_futures:
            lock = self.__dict__.get("_submitted_lock")
            if lock is not None:
                with lock:
                    pending = list(self.__dict__["_submitted"].values())
                for future, task in pending:
                    if task.cancel() and future.cancel():
                        future.set_running_or_notify_cancel()  # wakes wait()/as_completed()
        if wait:
            self.join()


def _forget(lock, tracked, task) -> None:
    with lock:
        tracked.pop(id(task), None)


class _Progressed:
    """An ``imap`` iterator that reports each item to a progress reporter."""

    def __init__(self, it, progress, iterable) -> None:
        total = len(iterable) if hasattr(iterable, "__len__") else None
        self._it = it
        self._report = progress_reporter(progress, total)

    def __iter__(self):
        return self

    def __next__(self):
        return self.next()

    def next(self, timeout=None):
        try:
            value = self._it.next(timeout)
        except StopIteration:
            self._report.close()
            raise
        except BaseException:
            self._report.advance()
            raise
        self._report.advance()
        return value
