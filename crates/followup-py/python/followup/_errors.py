"""The exception followup adds to the ones ``multiprocessing.pool`` users already catch."""

from concurrent.futures import CancelledError

__all__ = ["PoolTerminated", "DeadlineExceeded", "GroupError"]


class PoolTerminated(CancelledError):
    """The task never ran: its pool was terminated first.

    ``terminate()``, the end of a ``with`` block and interpreter exit all terminate a pool.
    Python's own pool leaves such results pending forever (``get()`` hangs); followup
    resolves them with this error, a :class:`concurrent.futures.CancelledError`, and tells
    their ``error_callback``.

    >>> import followup, time
    >>> pool = followup.ThreadPool(1)
    >>> busy = pool.apply_async(time.sleep, (0.2,))
    >>> queued = pool.apply_async(time.sleep, (0.2,))
    >>> time.sleep(0.05)
    >>> pool.terminate()
    >>> try:
    ...     queued.get(timeout=5)
    ... except followup.PoolTerminated:
    ...     print("never ran")
    never ran
    >>> pool.join()
    """


class DeadlineExceeded(TimeoutError):
    """The work itself missed its deadline (``result.timeout(seconds)``).

    Not the same as ``get(timeout)`` giving up waiting (``multiprocessing.TimeoutError``, the
    work goes on): here the work was cancelled if it had not started, or asked to stop
    (``followup.is_cancelled()`` turns True inside it).
    """


class GroupError(Exception):
    """Several tasks of a group failed (Python before 3.11, which has no ``ExceptionGroup``).

    ``exceptions`` lists them in the order they failed, as ``ExceptionGroup`` does.
    """

    def __init__(self, message: str, exceptions) -> None:
        super().__init__(message, list(exceptions))
        self.message = message
        self.exceptions = tuple(exceptions)
