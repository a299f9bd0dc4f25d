"""The exception followup adds to the ones ``multiprocessing.pool`` users already catch."""

from concurrent.futures import CancelledError

__all__ = ["PoolTerminated"]


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
