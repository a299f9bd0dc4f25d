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

import threading as _threading
from multiprocessing import TimeoutError

from . import _followup
from ._errors import PoolTerminated
from ._followup import AsyncResult, IMapIterator, __version__
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
    "RUN",
    "CLOSE",
    "TERMINATE",
    "__version__",
]


def _register_exit_hook() -> None:
    # Stop open pools while the interpreter is whole: the hook concurrent.futures uses runs
    # before atexit callbacks and before threads are joined. Older or stripped-down
    # interpreters without it get atexit, which still runs before finalization.
    register = getattr(_threading, "_register_atexit", None)
    if register is not None:
        try:
            register(_followup._shutdown_all)
            return
        except RuntimeError:  # already shutting down
            pass
    import atexit

    atexit.register(_followup._shutdown_all)


_register_exit_hook()
