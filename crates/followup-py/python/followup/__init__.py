"""followup: a thread pool for ad hoc tasks whose centre is the follow-up task.

``followup.ThreadPool`` is a drop-in for ``multiprocessing.pool.ThreadPool`` on a Rust
work-stealing engine: change the import line and the program runs, with a fraction of
Python's per-task overhead, and without the trap of follow-ups refused after ``close()``.

>>> from followup import ThreadPool
>>> pool = ThreadPool(2)
>>> pool.apply(pow, (2, 10))
1024
>>> pool.close(); pool.join()
"""

import os as _os
import sys as _sys
import threading as _threading
from multiprocessing import TimeoutError

from . import _followup
from ._errors import DeadlineExceeded, GroupError, PoolTerminated
from ._followup import AsyncResult, IMapIterator, __version__, is_cancelled
from ._followups import AsCompleted, TaskGroup
from .pool import CLOSE, RUN, TERMINATE, ThreadPool

#: Python's names for the results of ``apply_async``/``map_async`` and the ``imap`` iterators.
ApplyResult = MapResult = AsyncResult
IMapUnorderedIterator = IMapIterator

__all__ = [
    "ThreadPool",
    "AsyncResult",
    "ApplyResult",
    "MapResult",
    "IMapIterator",
    "IMapUnorderedIterator",
    "TimeoutError",
    "PoolTerminated",
    "DeadlineExceeded",
    "GroupError",
    "AsCompleted",
    "TaskGroup",
    "is_cancelled",
    "RUN",
    "CLOSE",
    "TERMINATE",
    "__version__",
]


def _stop_pools_at_exit() -> None:
    """Terminates every open pool and waits for its running tasks (queued ones are dropped).

    A finalizing interpreter must not have a pool thread inside Python code (CPython ends
    such threads in a way Rust code cannot survive), so Ctrl-C during this wait does not let
    finalization go on: it leaves the process at once, with the conventional status 130.
    """
    try:
        _followup._shutdown_all()
    except KeyboardInterrupt:
        for stream in (_sys.stdout, _sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        _os._exit(130)


def _register_exit_hook() -> None:
    # Stop open pools while the interpreter is whole: the hook concurrent.futures uses runs
    # before atexit callbacks and before threads are joined. Older or stripped-down
    # interpreters without it get atexit, which still runs before finalization.
    register = getattr(_threading, "_register_atexit", None)
    if register is not None:
        try:
            register(_stop_pools_at_exit)
            return
        except RuntimeError:  # already shutting down
            pass
    import atexit

    atexit.register(_stop_pools_at_exit)


_register_exit_hook()
