"""``followup.ThreadPool``: Python's ``multiprocessing.pool.ThreadPool`` on the followup engine.

The hot paths live in the Rust core (``followup._followup.Pool``); this module adds what
Python users expect of the class itself: the context manager, ``repr``, the
``ResourceWarning`` of an unclosed pool, pickling refused, and ``_pool``.
"""

from __future__ import annotations

import warnings
from multiprocessing.pool import CLOSE, RUN, TERMINATE

from . import _followup

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


class ThreadPool(_followup.Pool):
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
