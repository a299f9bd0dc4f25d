"""``followup.ThreadPool(client=dask_client)``: the same pool API on a Dask cluster.

The pool's tasks run on the workers of a ``distributed.Client``; its results, callbacks,
``close()``/``join()``/``terminate()`` behave as those of the local pool where a cluster
allows it (the README's "Beyond one machine" lists what differs). Everything is built on
Dask's own scheduler: ``Client.submit``, futures, ``Future.add_done_callback``,
``Client.gather``, ``distributed.Queue`` and ``worker_client``-style secession.

>>> from distributed import Client, LocalCluster                     # doctest: +SKIP
>>> import followup
>>> client = Client(LocalCluster(n_workers=2, processes=True))       # doctest: +SKIP
>>> with followup.ThreadPool(client=client) as pool:                 # doctest: +SKIP
...     pool.map(abs, [-1, -2, 3])
[1, 2, 3]

How it works, briefly:

- A task is ``_run(func, args, kwds)`` submitted with ``Client.submit`` (``retries=`` passed
  through); a map is one such task per chunk. Done futures are reported by Dask's
  ``add_done_callback`` to one thread of the pool, the *lane*, which gathers the values of
  everything that finished meanwhile in one ``Client.gather``, runs the callbacks one at a
  time and only then makes the results ready (Python's order).
- A task that uses the pool on a worker (the pool pickles into a worker-side handle)
  submits its follow-ups straight to the scheduler through the worker's own client. When
  the task ends, it puts the follow-ups' futures into the pool's ``distributed.Queue``
  (which keeps them alive) and then a record of them (kind, keys, callbacks); only then does
  the task finish. A reader thread on the client takes them from the queue and the lane
  registers them, so their callbacks run on the client and ``join()`` waits for them.
- ``join()`` after ``close()`` ends when no registered work is left *and* a marker the
  lane then puts into the same queue comes back with nothing registered ahead of it and no
  job finished since it was sent: every task's records were queued before that task
  finished, so none can still be on the way.
- The follow-up primitives (``followup._followups``, shared with the local pool) use the
  hooks of :class:`AsyncResult`: done callbacks run on the lane after the result is ready
  and before the job is counted out; promises are jobs without a task (counted by join()
  like any job, resolved on the lane, resolved with PoolTerminated by terminate());
  ``cancel()`` asks the scheduler whether the task was sent to a worker and, if not,
  cancels its future. A running task cannot be interrupted or signalled, so
  ``followup.is_cancelled()`` stays False inside Dask tasks.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextvars
import itertools
import logging
import math
import sys
import threading
import time
import types
import uuid
import warnings
import weakref
from multiprocessing import TimeoutError
from multiprocessing.pool import CLOSE, RUN, TERMINATE
from typing import Any, Callable, Generic, Iterable, Iterator, Mapping, TypeVar

import cloudpickle
import distributed

from . import _followups
from ._errors import PoolTerminated
from ._progress import map_with_progress

__all__ = ["DaskThreadPool", "AsyncResult", "IMapIterator"]

_T = TypeVar("_T")

# Kinds of job: one task; a map (one task per chunk, one list as result); one imap chunk; a
# promise (no task: resolved by the follow-up primitives of followup._followups).
_APPLY, _MAP, _IMAP, _PROMISE = "apply", "map", "imap", "promise"

#: Pools of this process by id: a pool pickled into a task and unpickled back here (in a
#: callback sent from a worker, say) is the pool itself again.
_POOLS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
#: Worker-side handles of this process by pool id.
_HANDLES: dict = {}
_HANDLES_LOCK = threading.Lock()
#: The follow-ups issued by the task running in this context (on a worker), queued when it ends.
_OUTBOX: contextvars.ContextVar = contextvars.ContextVar("followup_dask_outbox", default=None)

_WAIT_SLICE = 0.05  # seconds: long waits are sliced so that Ctrl-C is seen promptly

_SUBMITTING = threading.local()


class _QuietSubmission(logging.Filter):
    """Drops Dask's own log of a failed serialization while a pool submits: the pool raises a
    TypeError naming the culprit instead, with Dask's error as its cause."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_SUBMITTING, "on", False)


logging.getLogger("distributed.protocol.pickle").addFilter(_QuietSubmission())


def _quiet_submit(client, *args, **kwargs):
    _SUBMITTING.on = True
    try:
        return client.submit(*args, **kwargs)
    finally:
        _SUBMITTING.on = False


# --- what runs on the workers ------------------------------------------------------------------


def _run(func, args, kwds):
    """Runs one task of a pool on a worker; queues the follow-ups it issued before it ends."""
    outbox: dict = {}
    token = _OUTBOX.set(outbox)
    try:
        return func(*args, **kwds)
    finally:
        _OUTBOX.reset(token)
        if outbox:
            _flush(outbox)


def _map_chunk(func, items, star):
    """A chunk of ``map``/``starmap``: stops at the first exception, as Python's map does."""
    if star:
        return [func(*a) for a in items]
    return [func(a) for a in items]


def _imap_chunk(func, items, star):
    """A chunk of ``imap`` (chunksize > 1): every item's own outcome, so each failure is raised
    for its own item and the iteration goes on."""
    out = []
    for a in items:
        try:
            out.append((True, func(*a) if star else func(a)))
        except Exception as e:
            out.append((False, e))
    return out


def _flush(outbox: dict) -> None:
    """Puts the follow-ups of one task into their pools' queues: the futures (which the queue
    keeps alive), then one record naming them. Raises if a pool has ended."""
    client = distributed.get_client()
    for queue_name, (futures, records) in outbox.items():
        try:
            for f in futures:
                client.sync(client.scheduler.queue_put, name=queue_name, key=f.key)
            client.sync(client.scheduler.queue_put, name=queue_name,
                        data=b"R" + cloudpickle.dumps(records))
        except KeyError:
            raise RuntimeError(
                "followup: the Dask pool this task used has ended (terminated or joined); "
                "its follow-ups were dropped"
            ) from None


def _pool_handle(pool_id: str, queue_name: str, retries, processes: int):
    """Unpickles a pool: the pool itself in its own process, a worker-side handle elsewhere."""
    pool = _POOLS.get(pool_id)
    if pool is not None:
        return pool
    with _HANDLES_LOCK:
        handle = _HANDLES.get(pool_id)
        if handle is None:
            handle = _HANDLES[pool_id] = _WorkerPool(pool_id, queue_name, retries, processes)
        return handle


class _Initializer(distributed.WorkerPlugin):
    """Runs a pool's ``initializer(*initargs)`` once in every worker, joining ones too."""

    def __init__(self, initializer, initargs) -> None:
        self.initializer = initializer
        self.initargs = initargs

    def setup(self, worker) -> None:
        self.initializer(*self.initargs)


# --- shared helpers --------------------------------------------------------------------------


def _describe(obj) -> str:
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    kind = type(obj).__qualname__
    return f"{kind} {name!r}" if name and kind in ("function", "builtin_function_or_method", "type") else f"a {kind}"


def _unpicklable(items) -> TypeError | None:
    """The first of ``(label, obj)`` that cannot be pickled, as a TypeError naming it."""
    for label, obj in items:
        try:
            cloudpickle.dumps(obj)
        except Exception as e:
            return TypeError(f"{label} ({_describe(obj)}) cannot be sent to the Dask cluster: {e}")
    return None


def _submission_error(exc: BaseException, func, args, kwds) -> BaseException:
    found = _unpicklable(
        [("the function", func)]
        + [(f"argument {i}", a) for i, a in enumerate(args if isinstance(args, tuple) else ())]
        + [(f"keyword argument {k!r}", v) for k, v in (kwds.items() if isinstance(kwds, dict) else ())]
    )
    if found is None:
        return exc
    found.__cause__ = exc
    return found


def _as_tuple(args):
    try:
        return tuple(args)
    except TypeError:
        return args  # not iterable: the worker raises the TypeError, as Python's pool does


def _as_dict(kwds):
    try:
        return dict(kwds)
    except (TypeError, ValueError):
        return kwds


def _key(func, suffix: str = "") -> str:
    name = getattr(func, "__name__", None) or type(func).__name__
    return f"{name}{suffix}-{uuid.uuid4().hex}"


def _check_timeout(timeout):
    if timeout is None:
        return None
    timeout = float(timeout)
    if math.isnan(timeout):
        raise ValueError("timeout must be a number, not NaN")
    return timeout


def _wait_event(event: threading.Event, timeout) -> bool:
    """Waits in slices (so Ctrl-C is seen); ``None`` or a huge timeout is no limit."""
    timeout = _check_timeout(timeout)
    if timeout is None or timeout > 1e9:
        while not event.wait(_WAIT_SLICE):
            pass
        return True
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return event.is_set()
        if event.wait(min(left, _WAIT_SLICE)):
            return True


def _chunks(items: list, chunksize: int) -> list:
    return [items[i:i + chunksize] for i in range(0, len(items), chunksize)]


def _check_chunksize(chunksize) -> None:
    if chunksize is not None and chunksize < 1:
        raise ValueError(f"Chunksize must be 1+, not {chunksize}")


# --- results ---------------------------------------------------------------------------------


class AsyncResult(Generic[_T]):
    """The result of ``apply_async``/``map_async`` on a Dask pool (Python's ``ApplyResult``).

    Ready once the work has finished on the cluster *and* its callback has run on the client.
    ``get()`` returns the value or raises the task's own exception (the same object each
    time; a lost worker's ``KilledWorker``; :class:`followup.PoolTerminated` after
    ``terminate()``); ``get(timeout)`` raises ``multiprocessing.TimeoutError`` and the work
    goes on.

    >>> r = pool.apply_async(pow, (2, 10))      # doctest: +SKIP
    >>> r.get(timeout=10), r.ready(), r.successful()   # doctest: +SKIP
    (1024, True, True)
    """

    __class_getitem__ = classmethod(types.GenericAlias)

    #: How a deadline (``timeout()``) describes work it could not cancel.
    _RUNNING_NOTE = ("left running: Dask cannot interrupt or signal a running task, so "
                     "followup.is_cancelled() stays False inside it")

    def __init__(self, pool: DaskThreadPool | None) -> None:
        self._pool = pool  # cleared once ready (the lane check of wait())
        self._owner = pool  # kept: continuations and promises are issued on it
        self._event = threading.Event()
        self._ok = False
        self._value: Any = None
        self._lock = threading.Lock()
        self._callbacks: list | None = []  # add_done_callback functions; None once ready
        self._future = None  # apply_async: the Dask future, for cancel()
        self._job: _Job | None = None  # a promise: its job
        self._claimed = False  # a promise: resolved (or cancelled) already
        self._cancelled = False

    def _set(self, ok: bool, value) -> list:
        """Makes the result ready; returns the done callbacks to run (on the lane)."""
        with self._lock:
            self._ok, self._value = ok, value
            self._event.set()
            self._pool = None
            fns, self._callbacks = self._callbacks or [], None
        return fns

    def __reduce__(self):
        # A ready result crosses to the workers as its outcome (then() passes it to a task).
        if not self._event.is_set():
            raise TypeError("a pending followup.dask.AsyncResult cannot be sent to the cluster")
        return _ready_result, (self._ok, self._value, self._cancelled)

    # -- the hooks of followup._followups --

    def add_done_callback(self, fn: Callable[[AsyncResult[_T]], object]) -> None:
        """Calls ``fn(result)`` once ready, on the pool's lane, one at a time (at once, on this
        thread, if ready already); ``join()`` waits for these calls. What ``fn`` raises is
        reported through ``sys.unraisablehook``."""
        with self._lock:
            if self._callbacks is not None:
                self._callbacks.append(fn)
                return
        _call_done(fn, self)

    def cancel(self) -> bool:
        """Cancels the work if it has not started on the cluster (``Future.cancel``): it
        resolves with ``concurrent.futures.CancelledError``, its ``error_callback`` is told
        and continuations see the cancellation. "Not started" is what the scheduler knows:
        not yet sent to a worker (waiting, or in Dask's scheduler-side queue); a task sent to
        a worker counts as started. False if started or done (Dask cannot interrupt a
        running task) and for ``map_async`` results, as on the local pool."""
        if self._event.is_set():
            return False
        if self._job is not None:  # a promise
            return self._settle(False, concurrent.futures.CancelledError(), cancel=True)
        future, pool = self._future, self._owner
        if future is None or pool is None or future.done():
            return False
        try:
            started = pool._client.run_on_scheduler(_task_started, key=future.key)
        except Exception:
            return False
        with self._lock:
            if started or self._cancelled or self._event.is_set():
                return False
            self._cancelled = True
        try:
            pool._client.cancel([future])
        except Exception:
            pass
        return True

    def cancelled(self) -> bool:
        """True if ``cancel()`` stopped the work before it started."""
        return self._cancelled

    def _promise(self) -> AsyncResult:
        if self._owner is None:
            raise ValueError("Pool not running")
        return self._owner._promise()

    def _set_result(self, value) -> bool:
        return self._settle(True, value)

    def _set_exception(self, exception: BaseException) -> bool:
        return self._settle(False, exception)

    def _settle(self, ok: bool, value, cancel: bool = False) -> bool:
        """Resolves a promise once (False if resolved already): on the lane, after which its
        done callbacks run and join() counts it out."""
        pool = self._owner
        with self._lock:
            if self._job is None or self._claimed or pool is None:
                return False
            self._claimed = True
            if cancel:
                self._cancelled = True
            if not pool._on_lane():
                # Posted under the lock: terminate() claims under it too, so a claimed
                # promise's event is always in the inbox before terminate's.
                pool._post(("settle", self, ok, value))
                return True
        pool._settle_now(self, ok, value)
        return True

    def _submit(self, func, args, callback=None, error_callback=None) -> AsyncResult:
        if self._owner is None:
            raise ValueError("Pool not running")
        return self._owner.apply_async(func, args, {}, callback, error_callback)

    # -- the follow-up primitives (followup._followups, as on the local pool) --

    def map(self, func: Callable[[_T], Any]) -> AsyncResult:
        """``func(value)`` as a task on the cluster once this succeeds; exceptions pass through."""
        return _followups.map(self, func)

    def then(self, func: Callable[[AsyncResult[_T]], Any]) -> AsyncResult:
        """``func(this ready result)`` as a task on the cluster, whatever the outcome."""
        return _followups.then(self, func)

    def recover(self, func: Callable[[BaseException], Any]) -> AsyncResult:
        """On failure, ``func(exception)`` as a task; a value passes through."""
        return _followups.recover(self, func)

    def and_then(self, func: Callable[[_T], Any]) -> AsyncResult:
        """``func(value)`` issues a follow-up (through the pool it was given) and returns its
        result, which this flattens."""
        return _followups.and_then(self, func)

    def when(self, test: Callable[[_T], object], func: Callable[[_T], Any]) -> AsyncResult:
        """If ``test(value)`` (on the client), ``func(value)`` as a task; else None."""
        return _followups.when(self, test, func)

    def timeout(self, seconds: float) -> AsyncResult:
        """A deadline: ``followup.DeadlineExceeded`` if not ready within ``seconds``, and the
        work cancelled if it has not started (a running task runs on, its result unused)."""
        return _followups.deadline(self, seconds)

    def as_future(self) -> concurrent.futures.Future:
        """A ``concurrent.futures.Future`` completed with this result."""
        return _followups.as_future(self)

    def __await__(self):
        return _followups.await_result(self)

    def ready(self) -> bool:
        """True once the work has finished and its callback has run."""
        return self._event.is_set()

    def successful(self) -> bool:
        """Whether the work finished without raising; ``ValueError`` if not ready yet."""
        if not self._event.is_set():
            raise ValueError(f"{self!r} not ready")
        return self._ok

    def wait(self, timeout: float | None = None) -> None:
        """Waits until ready, or until ``timeout`` seconds have passed."""
        pool = self._pool
        if not self._event.is_set() and pool is not None and pool._on_lane():
            raise RuntimeError(
                "waiting inside a callback of a Dask pool for one of its results would "
                "wait for itself: callbacks run one at a time on one thread"
            )
        _wait_event(self._event, timeout)

    def get(self, timeout: float | None = None) -> _T:
        """The value; raises the task's exception, or ``multiprocessing.TimeoutError``."""
        self.wait(timeout)
        if not self._event.is_set():
            raise TimeoutError
        if self._ok:
            return self._value
        raise self._value

    def __repr__(self) -> str:
        state = ("ok" if self._ok else "failed") if self._event.is_set() else "pending"
        return f"<followup.dask.AsyncResult {state}>"


ApplyResult = MapResult = AsyncResult


def _ready_result(ok: bool, value, cancelled: bool = False) -> AsyncResult:
    r = AsyncResult(None)
    r._cancelled = cancelled
    r._set(ok, value)
    return r


def _call_done(fn, result) -> None:
    """Runs one done callback; what it raises goes to ``sys.unraisablehook``, as on the local pool."""
    try:
        fn(result)
    except BaseException as e:  # noqa: BLE001 - reported, never stops the others
        message = "Exception ignored in a done callback of a followup.dask result"
        hook = sys.unraisablehook
        if hook is sys.__unraisablehook__:  # CPython's own hook takes only its own type
            import traceback

            print(f"{message}: {fn!r}", file=sys.stderr)
            traceback.print_exception(type(e), e, e.__traceback__, file=sys.stderr)
        else:
            hook(types.SimpleNamespace(exc_type=type(e), exc_value=e,
                                       exc_traceback=e.__traceback__, err_msg=message,
                                       object=fn))


def _task_started(dask_scheduler=None, key=None) -> bool:
    """On the scheduler: whether the task may have started (assigned to a worker, or done)."""
    ts = dask_scheduler.tasks.get(key)
    return ts is not None and ts.state not in ("released", "waiting", "queued", "no-worker")


class IMapIterator(Iterator[_T]):
    """The iterator of ``imap``/``imap_unordered`` on a Dask pool.

    The input is read lazily on a feeder thread of the pool, a bounded window of chunks ahead
    of the consumer; an exception of the function is raised for its own item and the
    iteration goes on; an exception of the input (or an item that cannot be pickled) is
    raised where it occurred and ends the stream. ``next(timeout)`` raises
    ``multiprocessing.TimeoutError`` and the iterator stays usable.

    >>> list(pool.imap(abs, [-1, -2]))          # doctest: +SKIP
    [1, 2]
    """

    def __init__(self, pool: DaskThreadPool, ordered: bool, window: int) -> None:
        self._pool = pool
        self._ordered = ordered
        self._cond = threading.Condition()
        self._chunks: dict = {}  # ordered: chunk index -> outcomes
        self._ready: collections.deque = collections.deque()  # outcomes ready to hand out
        self._next_chunk = 0  # ordered: the next chunk to hand out
        self._consumed = 0  # chunks handed over to _ready
        self._fed = 0  # items submitted
        self._taken = 0  # items handed to the consumer
        self._total: int | None = None  # chunks in all, once the input has ended
        self._input_error: BaseException | None = None
        self._stopped = False  # terminate(): feed no more, end the stream
        self._window = window  # items the input is read ahead of the consumer

    # Feeder side.
    def _take_slot(self, items: int) -> bool:
        """Waits until the consumer is less than a window behind; False once stopped."""
        with self._cond:
            while not self._stopped and self._fed - self._taken >= self._window:
                self._cond.wait(_WAIT_SLICE)
            if self._stopped:
                return False
            self._fed += items
            return True

    def _lift_window(self) -> None:
        with self._cond:
            self._window = math.inf
            self._cond.notify_all()

    def _input_ended(self, fed: int, error: BaseException | None) -> None:
        with self._cond:
            self._total = fed
            self._input_error = error
            self._cond.notify_all()

    def _stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    # Lane side.
    def _deliver(self, index: int, outcomes: list) -> None:
        with self._cond:
            if self._ordered:
                self._chunks[index] = outcomes
                while self._next_chunk in self._chunks:
                    self._ready.extend(self._chunks.pop(self._next_chunk))
                    self._next_chunk += 1
                    self._consumed += 1
            else:
                self._ready.extend(outcomes)
                self._consumed += 1
            self._cond.notify_all()

    # Consumer side.
    def __iter__(self) -> IMapIterator[_T]:
        return self

    def __next__(self) -> _T:
        return self.next()

    def next(self, timeout: float | None = None) -> _T:
        """The next result within ``timeout`` seconds, else ``multiprocessing.TimeoutError``."""
        timeout = _check_timeout(timeout)
        deadline = None if timeout is None or timeout > 1e9 else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._ready:
                    ok, value = self._ready.popleft()
                    self._taken += 1
                    self._cond.notify_all()
                    if ok:
                        return value
                    raise value
                if self._total is not None and self._consumed >= self._total:
                    if self._input_error is not None:
                        error, self._input_error = self._input_error, None
                        raise error
                    raise StopIteration
                if self._stopped:
                    raise StopIteration
                if deadline is None:
                    self._cond.wait(_WAIT_SLICE)
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError
                    self._cond.wait(min(left, _WAIT_SLICE))

    __class_getitem__ = classmethod(types.GenericAlias)


IMapUnorderedIterator = IMapIterator


def _progressed(it, progress, iterable):
    from .pool import _Progressed

    return _Progressed(it, progress, iterable)


class _SubmitFuture(concurrent.futures.Future):
    """The future of ``DaskThreadPool.submit``: ``cancel()`` cancels its task if it has not
    started on the cluster."""

    def __init__(self, task: AsyncResult) -> None:
        super().__init__()
        self._task = task

    def cancel(self) -> bool:
        with self._condition:
            if self._state in ("CANCELLED", "CANCELLED_AND_NOTIFIED"):
                return True
            if self._state != "PENDING":
                return False
        if not self._task.cancel():
            return False
        return self._cancel_now()

    def _cancel_now(self) -> bool:
        with self._condition:
            if self._state == "PENDING":
                super().cancel()
                self.set_running_or_notify_cancel()  # wakes wait()/as_completed()
        return self.cancelled()


class _Job:
    """Work the client waits for: the futures of one result, and what to do when they end."""

    __slots__ = ("kind", "result", "left", "outcomes", "callback", "error_callback", "sink",
                 "index", "sizes")

    def __init__(self, kind, result, n, callback=None, error_callback=None, sink=None,
                 index=0, sizes=None) -> None:
        self.kind = kind
        self.result = result
        self.left = n
        self.outcomes = [None] * n if kind == _MAP else None
        self.callback = callback
        self.error_callback = error_callback
        self.sink = sink  # imap: the iterator, and this chunk's index and item count
        self.index = index
        self.sizes = sizes


# --- the pool on the client ------------------------------------------------------------------


class DaskThreadPool:
    """``followup.ThreadPool`` on a Dask cluster: ``ThreadPool(client=dask_client)``.

    ``DaskThreadPool(processes=None, initializer=None, initargs=(), *, client, retries=None)``
    runs its tasks on the workers of ``client`` (a ``distributed.Client``). ``processes``
    only sizes the default chunks of ``map`` and the ``imap`` window (default: the cluster's
    thread count); the cluster decides where and how much runs. ``initializer(*initargs)``
    runs once in every worker process (workers that join later too), and the constructor
    raises its exception if it fails. ``retries`` is passed to ``Client.submit``: a task
    that raises is run again up to that many times. A task whose worker dies is rescheduled
    by Dask (``distributed.scheduler.allowed-failures`` times) and then fails with the
    worker's ``KilledWorker``.

    The methods, arguments, defaults, return values and exceptions are those of
    ``followup.ThreadPool``. Callbacks run on the client, one at a time, on one thread of
    the pool, before the result is ready. Tasks and callbacks of the pool may submit
    follow-ups after ``close()`` (a task on a worker uses the pool it was given, which
    pickles into a worker-side handle), and ``join()`` waits for the whole follow-up tree.

    >>> import followup
    >>> from distributed import Client                    # doctest: +SKIP
    >>> pool = followup.ThreadPool(client=Client())        # doctest: +SKIP
    >>> pool.apply(pow, (2, 10))                           # doctest: +SKIP
    1024
    >>> pool.close(); pool.join()                          # doctest: +SKIP
    """

    def __init__(self, processes: int | None = None, initializer: Callable[..., object] | None = None,
                 initargs: Iterable[Any] = (), *, client: distributed.Client,
                 retries: int | None = None) -> None:
        if not isinstance(client, distributed.Client):
            raise TypeError(f"client must be a distributed.Client, not {type(client).__name__}")
        if processes is not None:
            if not isinstance(processes, int) or isinstance(processes, bool):
                raise TypeError(f"processes must be an int, not {type(processes).__name__}")
            if processes < 1:
                raise ValueError("Number of processes must be at least 1")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        self._client = client
        self._retries = retries
        self._id = uuid.uuid4().hex
        self._state = RUN
        self._processes_ = processes or max(1, sum(client.nthreads().values()))
        self._lock = threading.Condition()
        self._pending = 0  # registered jobs not finished, plus imap feeders still reading
        self._jobs: dict = {}  # future key -> (job, index in the job)
        self._futures: dict = {}  # future key -> future, for terminate()
        self._iterators: weakref.WeakSet = weakref.WeakSet()
        self._promises: set = set()  # unresolved promises, resolved by terminate()
        self._submitted: dict = {}  # submit(): id(task) -> (future, task), for shutdown()
        self._finished = threading.Event()  # join() may return
        self._drain_token: bytes | None = None  # the drain marker on its way through the queue
        self._done_count = 0  # jobs finished so far
        self._drain_mark = 0  # _done_count when the marker was sent
        self._inbox: collections.deque = collections.deque()
        self._inbox_ready = threading.Event()
        self._plugin_name = None
        if initializer is not None:
            self._plugin_name = f"followup-initializer-{self._id}"
            client.register_plugin(_Initializer(initializer, tuple(initargs)),
                                   name=self._plugin_name)
        self._queue = distributed.Queue(f"followup-{self._id}", client=client)
        self._lane = threading.Thread(target=self._lane_main, name=f"followup-dask-lane-{self._id[:8]}",
                                      daemon=True)
        self._reader = threading.Thread(target=self._reader_main,
                                        name=f"followup-dask-reader-{self._id[:8]}", daemon=True)
        self._feeders: set = set()
        _POOLS[self._id] = self
        self._lane.start()
        self._reader.start()

    # -- Python's surface --

    @property
    def _processes(self) -> int:
        return self._processes_

    def apply(self, func: Callable[..., _T], args: Iterable[Any] = (), kwds: Mapping[str, Any] = {}) -> _T:
        """Runs ``func(*args, **kwds)`` on the cluster and returns its value.

        >>> pool.apply(pow, (2, 5))                  # doctest: +SKIP
        32
        """
        return self.apply_async(func, args, kwds).get()

    def apply_async(self, func: Callable[..., _T], args: Iterable[Any] = (), kwds: Mapping[str, Any] = {},
                    callback: Callable[[_T], object] | None = None,
                    error_callback: Callable[[BaseException], object] | None = None) -> AsyncResult[_T]:
        """Submits ``func(*args, **kwds)``; returns its :class:`AsyncResult` at once.

        ``callback(value)`` or ``error_callback(exception)`` runs on the client before the
        result is ready. A function or argument that cannot be pickled raises ``TypeError``
        here, naming it.

        >>> r = pool.apply_async(pow, (2, 5), callback=print)   # doctest: +SKIP
        >>> r.get(timeout=10)                                   # doctest: +SKIP
        32
        32
        """
        self._check_submit()
        args, kwds = _as_tuple(args), _as_dict(kwds)
        result = AsyncResult(self)
        future = self._submit(_key(func), func, args, kwds)
        result._future = future
        self._register(_Job(_APPLY, result, 1, callback, error_callback), [future])
        return result

    def map(self, func: Callable[[Any], _T], iterable: Iterable[Any], chunksize: int | None = None,
            *, progress=None) -> list[_T]:
        """``[func(x) for x in iterable]`` on the cluster, in input order.

        ``progress=True`` draws a tqdm bar; a callable is called as ``progress(done, total)``
        after each item, on the consumer's thread (as on the local pool).

        >>> pool.map(abs, [-1, -2, 3])               # doctest: +SKIP
        [1, 2, 3]
        """
        if progress is None:
            return self._map_async(func, iterable, chunksize, None, None, star=False).get()
        items = list(iterable)
        _check_chunksize(chunksize)
        if chunksize is None:
            chunksize = _followups.default_chunksize(len(items), self._processes_)
        return map_with_progress(lambda f, xs, c: self._imap(f, xs, c, ordered=True),
                                 func, items, chunksize, progress)

    def map_async(self, func: Callable[[Any], _T], iterable: Iterable[Any], chunksize: int | None = None,
                  callback: Callable[[list[_T]], object] | None = None,
                  error_callback: Callable[[BaseException], object] | None = None,
                  *, on_item: Callable[[int, Any], object] | None = None) -> AsyncResult[list[_T]]:
        """``map`` that returns an :class:`AsyncResult` of the list at once.

        The exception of the lowest failing index wins; an empty input calls ``callback([])``.
        ``on_item(index, value)`` runs on the client's lane for each item as its chunk
        completes, before ``callback``; what it raises becomes the job's result.

        >>> pool.map_async(abs, [-1, -2]).get(timeout=10)   # doctest: +SKIP
        [1, 2]
        """
        if on_item is not None:
            return _followups.map_with_items(self, func, iterable, chunksize, callback,
                                             error_callback, on_item)
        return self._map_async(func, iterable, chunksize, callback, error_callback, star=False)

    def starmap(self, func: Callable[..., _T], iterable: Iterable[Iterable[Any]],
                chunksize: int | None = None) -> list[_T]:
        """``[func(*args) for args in iterable]`` on the cluster, in input order.

        >>> pool.starmap(pow, [(2, 3), (3, 2)])      # doctest: +SKIP
        [8, 9]
        """
        return self._map_async(func, iterable, chunksize, None, None, star=True).get()

    def starmap_async(self, func: Callable[..., _T], iterable: Iterable[Iterable[Any]],
                      chunksize: int | None = None,
                      callback: Callable[[list[_T]], object] | None = None,
                      error_callback: Callable[[BaseException], object] | None = None) -> AsyncResult[list[_T]]:
        """``starmap`` that returns an :class:`AsyncResult` of the list at once.

        >>> pool.starmap_async(pow, [(2, 3)]).get(timeout=10)   # doctest: +SKIP
        [8]
        """
        return self._map_async(func, iterable, chunksize, callback, error_callback, star=True)

    def imap(self, func: Callable[[Any], _T], iterable: Iterable[Any], chunksize: int = 1,
             *, progress=None) -> IMapIterator[_T]:
        """Results in input order as they arrive; the input is read lazily (see :class:`IMapIterator`).
        ``progress`` as for :meth:`map`.

        >>> for v in pool.imap(abs, [-1, -2]):       # doctest: +SKIP
        ...     print(v)
        1
        2
        """
        it = self._imap(func, iterable, chunksize, ordered=True)
        return it if progress is None else _progressed(it, progress, iterable)

    def imap_unordered(self, func: Callable[[Any], _T], iterable: Iterable[Any],
                       chunksize: int = 1, *, progress=None) -> IMapIterator[_T]:
        """Results in completion order; otherwise as :meth:`imap`.

        >>> sorted(pool.imap_unordered(abs, [-1, -2]))   # doctest: +SKIP
        [1, 2]
        """
        it = self._imap(func, iterable, chunksize, ordered=False)
        return it if progress is None else _progressed(it, progress, iterable)

    # -- the follow-up primitives (followup._followups, as on the local pool) --

    #: Tasks run in other processes: a task group does not mark its tasks (they could not
    #: wait for a group on the client anyway).
    _tasks_elsewhere = True

    def as_completed(self, results: Iterable[AsyncResult] = ()) -> _followups.AsCompleted:
        """A set of results yielded in completion order, to which the loop and callbacks may
        add while iterating; see :class:`followup.AsCompleted`."""
        return _followups.AsCompleted(self, results)

    def group(self) -> _followups.TaskGroup:
        """A :class:`followup.TaskGroup`, used on the client (its body and callbacks):
        ``with pool.group() as g:`` waits for a growing tree of work without closing the pool."""
        return _followups.TaskGroup(self)

    def all(self, results: Iterable[AsyncResult]) -> AsyncResult:
        """One result with every value, in order; the first failure resolves it at once and
        cancels the inputs that have not started."""
        return _followups.all_of(self, results)

    def all_settled(self, results: Iterable[AsyncResult]) -> AsyncResult:
        """One result with the list of the (ready) input results once all are done."""
        return _followups.all_settled(self, results)

    def any(self, results: Iterable[AsyncResult]) -> AsyncResult:
        """The first value to succeed (the inputs not started are then cancelled); if every
        input fails, an ``ExceptionGroup`` of their exceptions."""
        return _followups.any_of(self, results)

    # -- concurrent.futures.Executor --

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        """Runs ``fn(*args, **kwargs)`` on the cluster; returns a real
        ``concurrent.futures.Future`` (``cancel()`` works while the task has not started).
        After ``shutdown()``/``close()``: ``RuntimeError``, as executors."""
        try:
            task = self.apply_async(fn, args, kwargs)
        except ValueError:
            if self._state == RUN:
                raise
            raise RuntimeError("cannot schedule new futures after shutdown") from None
        future = _SubmitFuture(task)
        with self._lock:
            self._submitted[id(task)] = (future, task)
        task.add_done_callback(lambda t: self._submit_done(future, t))
        return future

    def _submit_done(self, future: _SubmitFuture, task: AsyncResult) -> None:
        with self._lock:
            self._submitted.pop(id(task), None)
        if task.cancelled():
            future._cancel_now()
            return
        if not future.set_running_or_notify_cancel():
            return  # cancelled meanwhile (not reachable through _SubmitFuture.cancel)
        try:
            future.set_result(task.get(timeout=0))
        except BaseException as e:  # noqa: BLE001 - the task's outcome
            future.set_exception(e)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """``concurrent.futures.Executor.shutdown``: ``close()``; ``cancel_futures`` cancels
        the futures of ``submit`` whose tasks have not started; ``wait`` joins."""
        self.close()
        if cancel_futures:
            with self._lock:
                pending = list(self._submitted.values())
            for future, _ in pending:
                future.cancel()
        if wait:
            self.join()

    def close(self) -> None:
        """Refuses new work from outside the pool; its tasks and callbacks may still add follow-ups.

        >>> pool.close(); pool.join()                # doctest: +SKIP
        """
        with self._lock:
            if self._state == RUN:
                self._state = CLOSE
        for it in list(self._iterators):
            it._lift_window()
        self._post(("check",))

    def terminate(self) -> None:
        """Cancels every unfinished task on the cluster and resolves its result with
        :class:`followup.PoolTerminated` (error callbacks are told); returns at once.

        A task already running on a worker cannot be interrupted: it runs on, its result is
        discarded, and follow-ups it issues are dropped.

        >>> pool.terminate(); pool.join()            # doctest: +SKIP
        """
        with self._lock:
            if self._state == TERMINATE:
                return
            self._state = TERMINATE
        for it in list(self._iterators):
            it._stop()
        self._post(("terminate",))

    def join(self) -> None:
        """After ``close()``: waits for every task and follow-up, on the cluster and in callbacks.
        After ``terminate()``: waits until every result is resolved.

        ``ValueError`` while the pool still runs; ``RuntimeError`` from a callback of the pool.

        >>> pool.close(); pool.join()                # doctest: +SKIP
        """
        if self._state == RUN:
            raise ValueError("Pool is still running")
        if self._on_lane():
            raise RuntimeError("join() cannot be called from the pool's own threads (a callback)")
        _wait_event(self._finished, None)
        self._lane.join()

    def __enter__(self) -> DaskThreadPool:
        self._check_running()
        return self

    def __exit__(self, exc_type, exc_val, exc_tb) -> None:
        self.terminate()

    def __reduce__(self):
        # A task that uses the pool gets a worker-side handle (see _WorkerPool).
        return _pool_handle, (self._id, self._queue.name, self._retries, self._processes_)

    def __repr__(self) -> str:
        cls = type(self)
        return f"<{cls.__module__}.{cls.__qualname__} state={self._state} pool_size={self._processes_}>"

    def __del__(self, _warn=warnings.warn, RUN=RUN) -> None:
        if getattr(self, "_state", None) == RUN:
            _warn(f"unclosed running multiprocessing pool {self!r}", ResourceWarning, source=self)

    # -- submission --

    def _check_running(self) -> None:
        if self._state != RUN:
            raise ValueError("Pool not running")

    def _on_lane(self) -> bool:
        return threading.current_thread() is self._lane

    def _check_submit(self) -> None:
        """Outside submitters only while running; the pool's own threads until terminate()."""
        state = self._state
        if state == RUN:
            return
        if state == CLOSE and (self._on_lane() or threading.current_thread() in self._feeders):
            return
        raise ValueError("Pool not running")

    def _submit(self, key: str, func, args, kwds):
        try:
            return _quiet_submit(self._client, _run, func, args, kwds, key=key, pure=False,
                                       retries=self._retries)
        except Exception as e:
            raise _submission_error(e, func, args, kwds) from None

    def _register(self, job: _Job, futures: list) -> None:
        with self._lock:
            self._pending += 1
            for i, f in enumerate(futures):
                self._jobs[f.key] = (job, i)
                self._futures[f.key] = f
        if not futures:
            self._post(("empty", job))
        for f in futures:
            f.add_done_callback(self._on_done)

    def _map_async(self, func, iterable, chunksize, callback, error_callback, *, star: bool):
        self._check_submit()
        _check_chunksize(chunksize)
        items = list(iterable)
        if chunksize is None:
            chunksize = _followups.default_chunksize(len(items), self._processes_)
        result = AsyncResult(self)
        chunks = _chunks(items, chunksize)
        futures = []
        prefix = _key(func, "-map")
        try:
            for i, chunk in enumerate(chunks):
                futures.append(self._submit_chunk(f"{prefix}-{i}", _map_chunk, func, chunk, star,
                                                  i * chunksize))
        except BaseException:
            self._client.cancel(futures)
            raise
        self._register(_Job(_MAP, result, len(futures), callback, error_callback), futures)
        return result

    def _submit_chunk(self, key, runner, func, chunk, star, base):
        try:
            return _quiet_submit(self._client, _run, runner, (func, chunk, star), {}, key=key,
                                       pure=False, retries=self._retries)
        except Exception as e:
            found = _unpicklable([("the function", func)]
                                 + [(f"input item {base + j}", a) for j, a in enumerate(chunk)])
            if found is None:
                raise
            raise found from e

    def _imap(self, func, iterable, chunksize, *, ordered: bool) -> IMapIterator:
        self._check_submit()
        _check_chunksize(chunksize)
        source = iter(iterable)
        it = IMapIterator(self, ordered, window=max(4, 2 * self._processes_) * chunksize)
        with self._lock:
            if self._state != RUN:
                it._window = math.inf
            self._pending += 1
        self._iterators.add(it)
        feeder = threading.Thread(target=self._feed, args=(it, func, source, chunksize),
                                  name=f"followup-dask-feeder-{self._id[:8]}", daemon=True)
        self._feeders.add(feeder)
        feeder.start()
        return it

    def _feed(self, it: IMapIterator, func, source, chunksize: int) -> None:
        """An imap feeder: reads the input a chunk at a time, as the window allows."""
        fed = 0
        error = None
        runner = _map_chunk if chunksize == 1 else _imap_chunk
        prefix = _key(func, "-imap")
        try:
            while True:
                chunk = list(itertools.islice(source, chunksize))
                if not chunk or not it._take_slot(len(chunk)):
                    break
                if self._state == TERMINATE:
                    break
                future = self._submit_chunk(f"{prefix}-{fed}", runner, func, chunk, False,
                                            fed * chunksize)
                self._register(_Job(_IMAP, None, 1, sink=it, index=fed,
                                   sizes=(len(chunk), runner is _imap_chunk)), [future])
                fed += 1
        except BaseException as e:
            error = e
        finally:
            it._input_ended(fed, error)
            self._feeders.discard(threading.current_thread())
            with self._lock:
                self._pending -= 1
            self._post(("check",))

    # -- the lane: completions, callbacks, join --

    def _post(self, event) -> None:
        self._inbox.append(event)
        self._inbox_ready.set()

    def _on_done(self, future) -> None:
        # Runs on Dask's callback thread: hand over to the lane.
        self._post(("done", future))

    def _lane_main(self) -> None:
        inbox, ready = self._inbox, self._inbox_ready
        while True:
            ready.wait()
            ready.clear()
            done: list = []
            while inbox:
                event = inbox.popleft()
                if event[0] == "done":
                    done.append(event[1])
                    continue
                if done:
                    self._completed(done)
                    done = []
                if self._handle(event):
                    return
            if done:
                self._completed(done)
            if self._check_idle():
                return

    def _handle(self, event) -> bool:
        """Handles one event other than a completion; True when the lane should stop."""
        kind = event[0]
        if kind == "empty":
            self._finish(event[1], True, [])
        elif kind == "record":
            self._adopt(event[1], event[2])
        elif kind == "settle":
            self._settle_now(event[1], event[2], event[3])
        elif kind == "follow":
            result, futures, job_kind = event[1:]
            try:
                values = self._client.gather(futures)
                ok, value = True, values[0] if job_kind == _APPLY else [x for v in values for x in v]
            except BaseException as e:  # noqa: BLE001 - the work's outcome
                ok, value = False, e
            result._settle(ok, value)
        elif kind == "drained":
            if event[1] == self._drain_token:
                self._drain_token = None
                with self._lock:
                    # A job that finished after the marker was sent may have queued its
                    # follow-ups behind it: then drain again.
                    idle = self._pending == 0 and self._done_count == self._drain_mark
                if idle:
                    self._shut_down()
                    return True
        elif kind == "terminate":
            self._terminate_all()
            while self._inbox:  # follow-ups that arrived meanwhile: refused
                event = self._inbox.popleft()
                if event[0] == "record":
                    self._adopt(event[1], event[2])
                elif event[0] == "settle":  # promises resolved before terminate() claimed them
                    self._settle_now(event[1], event[2], event[3])
            self._shut_down()
            return True
        return False

    def _check_idle(self) -> bool:
        """After close(): when nothing is registered, sends the drain marker through the queue."""
        with self._lock:
            if self._state == TERMINATE:
                return False  # its event is on the way
            if self._state == RUN or self._pending or self._drain_token is not None:
                return False
            self._drain_token = token = uuid.uuid4().hex.encode()
            self._drain_mark = self._done_count
        try:
            self._queue.put(b"D" + token)
        except Exception:  # the client is gone: nothing more can be learned
            self._shut_down()
            return True
        return False

    def _completed(self, futures: list) -> None:
        """Finished futures: one gather for all the values, then each job's outcome in turn."""
        values: dict = {}
        finished = [f for f in futures if f.status == "finished"]
        if finished:
            try:
                values = dict(zip((f.key for f in finished), self._client.gather(finished)))
            except Exception:
                values = {}
                for f in finished:  # find which one failed (a result that cannot be pickled, say)
                    try:
                        values[f.key] = self._client.gather(f)
                    except Exception as e:
                        values[f.key] = _Failed(e)
        for f in futures:
            with self._lock:
                entry = self._jobs.pop(f.key, None)
                self._futures.pop(f.key, None)
            if entry is None:
                continue  # terminated meanwhile
            job, index = entry
            if f.key in values:
                value = values[f.key]
                ok = not isinstance(value, _Failed)
                if not ok:
                    value = value.error
            else:
                ok, value = False, self._error_of(f, job)
            self._outcome(job, index, ok, value)

    def _error_of(self, future, job: _Job | None = None) -> BaseException:
        if future.status == "cancelled":
            if job is not None and job.result is not None and job.result._cancelled:
                return concurrent.futures.CancelledError(f"task {future.key} was cancelled")
            if self._state == TERMINATE:
                return PoolTerminated("the pool was terminated before the task finished")
            return distributed.client.FutureCancelledError(future.key, "cancelled")
        try:
            exc = future.exception()
            tb = future.traceback()
        except BaseException as e:  # cancelled meanwhile, client closing
            return e
        if exc is None:
            return RuntimeError(f"task {future.key} ended in state {future.status}")
        return exc.with_traceback(tb) if tb is not None else exc

    def _outcome(self, job: _Job, index: int, ok: bool, value) -> None:
        if job.kind == _APPLY:
            self._finish(job, ok, value)
        elif job.kind == _MAP:
            job.outcomes[index] = (ok, value)
            job.left -= 1
            if job.left == 0:
                for ok_i, v in job.outcomes:
                    if not ok_i:  # the lowest failing chunk holds the lowest failing index
                        self._finish(job, False, v)
                        return
                self._finish(job, True, [x for _, v in job.outcomes for x in v])
        else:  # an imap chunk: per-item outcomes (chunksize > 1) or a one-item list
            count, per_item = job.sizes
            if not ok:
                outcomes = [(False, value)] * count
            elif per_item:
                outcomes = value
            else:
                outcomes = [(True, v) for v in value]
            job.sink._deliver(job.index, outcomes)
            self._job_done()

    def _finish(self, job: _Job, ok: bool, value) -> None:
        """Runs the job's callback (here, on the lane), then makes its result ready."""
        if ok:
            if job.callback is not None:
                try:
                    job.callback(value)
                except BaseException as e:
                    ok, value = False, e
        elif job.error_callback is not None:
            try:
                job.error_callback(value)
            except BaseException as e:
                last = e  # the task's own exception ends the chain of the callback's
                while last.__context__ is not None and last.__context__ is not value:
                    last = last.__context__
                if last.__context__ is None and last is not value:
                    last.__context__ = value
                value = e
        if job.result is not None:
            # Ready first, then the done callbacks (they see a ready result), then counted
            # out: join() waits for the done callbacks and what they issue.
            for fn in job.result._set(ok, value):
                _call_done(fn, job.result)
        self._job_done()

    # -- promises (followup._followups): jobs without a task, counted by join() --

    def _promise(self) -> AsyncResult:
        """A pending result of this pool that join() waits for until it is resolved; refused
        from outside after close(), as submissions are."""
        self._check_submit()
        return self._new_promise()

    def _new_promise(self) -> AsyncResult:
        result = AsyncResult(self)
        result._job = _Job(_PROMISE, result, 0)
        with self._lock:  # as terminate() sets the state: it then finds this promise
            if self._state == TERMINATE:
                raise ValueError("Pool not running")
            self._pending += 1
            self._promises.add(result)
        return result

    def _follow_keys(self, keys: list, kind: str) -> AsyncResult:
        """A promise resolved with the outcome of the work of ``keys`` (issued by a task on a
        worker, which returned its result to the client: ``and_then``). Made while the value
        is unpickled (on Dask's IO thread), a follow-up of the pool's own work: accepted
        after close()."""
        result = self._new_promise()
        futures = [distributed.Future(k, client=self._client) for k in keys]
        if not futures:
            result._set_result([])
            return result
        left = [len(futures)]
        lock = threading.Lock()

        def on_done(_future) -> None:  # on Dask's callback thread
            with lock:
                left[0] -= 1
                last = left[0] == 0
            if last:
                self._post(("follow", result, futures, kind))

        for f in futures:
            f.add_done_callback(on_done)
        return result

    def _settle_now(self, result: AsyncResult, ok: bool, value) -> None:
        """On the lane: resolves a claimed promise."""
        with self._lock:
            self._promises.discard(result)
        self._finish(result._job, ok, value)

    def _job_done(self) -> None:
        with self._lock:
            self._pending -= 1
            self._done_count += 1

    def _adopt(self, record, futures: list) -> None:
        """Registers a job a task issued on a worker (its futures came through the queue)."""
        kind, count, blob = record
        try:
            callback, error_callback = cloudpickle.loads(blob)
        except Exception as e:  # its callbacks cannot be loaded here: fail it, loudly
            self._refuse(futures, _Job(_APPLY, None, 1), e)
            return
        job = _Job(kind, None, count, callback, error_callback)
        if self._state == TERMINATE:
            self._refuse(futures, job, PoolTerminated("the pool was terminated"))
            return
        self._register(job, futures)

    def _refuse(self, futures: list, job: _Job, error: BaseException) -> None:
        try:
            self._client.cancel(futures)
        except Exception:
            pass
        with self._lock:
            self._pending += 1  # counted out by _finish
        self._finish(job, False, error)

    def _terminate_all(self) -> None:
        with self._lock:
            futures = list(self._futures.values())
            entries = list(self._jobs.values())
            self._jobs.clear()
            self._futures.clear()
        if futures:
            try:
                self._client.cancel(futures)
            except Exception:
                pass
        seen = set()
        for job, _ in entries:
            if id(job) in seen:
                continue
            seen.add(id(job))
            error = PoolTerminated("the pool was terminated before the task finished")
            if job.kind == _IMAP:
                self._job_done()
            else:
                self._finish(job, False, error)
        with self._lock:
            promises = list(self._promises)
        for promise in promises:
            with promise._lock:
                if promise._claimed:
                    continue  # its settle event is in the inbox
                promise._claimed = True
            self._settle_now(promise, False, PoolTerminated("the pool was terminated"))
        for it in list(self._iterators):
            it._stop()

    def _shut_down(self) -> None:
        """The pool is done: stop the reader, release the queue and the initializer, free join()."""
        self._reader_stop = True
        try:
            self._queue.put(b"S")
            self._queue.close()
        except Exception:
            pass
        if self._plugin_name is not None:
            try:
                self._client.unregister_worker_plugin(self._plugin_name)
            except Exception:
                pass
        self._finished.set()

    # -- the reader: follow-ups issued on workers --

    _reader_stop = False

    def _reader_main(self) -> None:
        # The get waits without a timeout: a timed-out get can lose the item it was handed
        # (asyncio.timeout on Python 3.11); _shut_down() wakes it with the stop marker.
        held: dict = {}
        while not self._reader_stop:
            try:
                item = self._queue.get()
            except Exception:
                if self._reader_stop or self._client.status not in ("running", "connecting"):
                    return
                time.sleep(0.1)
                continue
            if isinstance(item, distributed.Future):
                held[item.key] = item
                continue
            tag, body = item[:1], item[1:]
            if tag == b"S":
                return
            if tag == b"D":
                self._post(("drained", bytes(body)))
            elif tag == b"R":
                for kind, keys, blob in cloudpickle.loads(body):
                    futures = [held.pop(k) for k in keys]
                    self._post(("record", (kind, len(keys), blob), futures))


def _returned_result(pool_id: str, keys: list, kind: str) -> AsyncResult:
    """Unpickles a worker's result of work it issued: on the pool's client, a promise of it."""
    pool = _POOLS.get(pool_id)
    if pool is None:
        raise RuntimeError("followup: the result of work issued on a worker can only be "
                           "returned to the client of its pool")
    return pool._follow_keys(keys, kind)


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


# --- the pool on a worker --------------------------------------------------------------------


class _WorkerResult(Generic[_T]):
    """The result of work a task issued on a worker: ``get`` waits outside the worker's
    thread budget (``secede``/``rejoin``), so a task waiting for its follow-ups cannot starve
    the cluster. Callbacks run on the client, so ``get`` here may return before them.

    Returned by a task to the client (``and_then``), it becomes a result of the client's
    pool resolved with the outcome of the same work."""

    def __init__(self, futures: list, kind: str, pool_id: str) -> None:
        self._futures = futures
        self._kind = kind
        self._pool_id = pool_id

    def __reduce__(self):
        return _returned_result, (self._pool_id, [f.key for f in self._futures], self._kind)

    def ready(self) -> bool:
        return all(f.done() for f in self._futures)

    def successful(self) -> bool:
        if not self.ready():
            raise ValueError(f"{self!r} not ready")
        return all(f.status == "finished" for f in self._futures)

    def wait(self, timeout: float | None = None) -> None:
        timeout = _check_timeout(timeout)
        if not self._futures or self.ready():
            return
        seceded = False
        try:
            distributed.secede()
            seceded = True
        except Exception:
            pass
        try:
            distributed.wait(self._futures, timeout=timeout)
        except Exception:
            pass  # timed out: the caller looks at ready()
        finally:
            if seceded:
                distributed.rejoin()

    def get(self, timeout: float | None = None) -> _T:
        self.wait(timeout)
        if not self.ready():
            raise TimeoutError
        values = [f.result() for f in self._futures]  # the lowest failing chunk raises
        if self._kind == _APPLY:
            return values[0]
        return [x for v in values for x in v]


class _WorkerPool:
    """A Dask pool as a task on a worker sees it: submits straight to the scheduler through
    the worker's client; the follow-ups are handed to the client's pool when the task ends.

    It offers ``apply``, ``apply_async``, ``map``, ``map_async``, ``starmap`` and
    ``starmap_async``; ``close``/``join``/``terminate`` and ``imap`` belong to the client.
    """

    def __init__(self, pool_id: str, queue_name: str, retries, processes: int) -> None:
        self._id = pool_id
        self._queue_name = queue_name
        self._retries = retries
        self._processes = processes

    def __reduce__(self):
        return _pool_handle, (self._id, self._queue_name, self._retries, self._processes)

    def _post(self, kind: str, futures: list, callback, error_callback) -> None:
        try:
            blob = cloudpickle.dumps((callback, error_callback))
        except Exception as e:
            distributed.get_client().cancel(futures)
            found = _unpicklable([("the callback", callback), ("the error_callback", error_callback)])
            raise (found or e) from e
        record = (kind, [f.key for f in futures], blob)
        outbox = _OUTBOX.get()
        if outbox is None:  # not inside one of the pool's tasks (a thread it started, say)
            _flush({self._queue_name: (futures, [record])})
            return
        entry = outbox.setdefault(self._queue_name, ([], []))
        entry[0].extend(futures)
        entry[1].append(record)

    def apply(self, func, args=(), kwds={}):
        return self.apply_async(func, args, kwds).get()

    def apply_async(self, func, args=(), kwds={}, callback=None, error_callback=None):
        args, kwds = _as_tuple(args), _as_dict(kwds)
        client = distributed.get_client()
        try:
            future = _quiet_submit(client, _run, func, args, kwds, key=_key(func), pure=False,
                                   retries=self._retries)
        except Exception as e:
            raise _submission_error(e, func, args, kwds) from None
        self._post(_APPLY, [future], callback, error_callback)
        return _WorkerResult([future], _APPLY, self._id)

    def map(self, func, iterable, chunksize=None):
        return self.map_async(func, iterable, chunksize).get()

    def map_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        return self._map_async(func, iterable, chunksize, callback, error_callback, False)

    def starmap(self, func, iterable, chunksize=None):
        return self.starmap_async(func, iterable, chunksize).get()

    def starmap_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        return self._map_async(func, iterable, chunksize, callback, error_callback, True)

    def _map_async(self, func, iterable, chunksize, callback, error_callback, star):
        _check_chunksize(chunksize)
        items = list(iterable)
        if chunksize is None:
            chunksize = _followups.default_chunksize(len(items), self._processes)
        client = distributed.get_client()
        prefix = _key(func, "-map")
        futures = []
        try:
            for i, chunk in enumerate(_chunks(items, chunksize)):
                futures.append(_quiet_submit(client, _run, _map_chunk, (func, chunk, star), {},
                                             key=f"{prefix}-{i}", pure=False, retries=self._retries))
        except Exception as e:
            client.cancel(futures)
            found = _unpicklable([("the function", func)]
                                 + [(f"input item {j}", a) for j, a in enumerate(items)])
            raise (found or e) from e
        self._post(_MAP, futures, callback, error_callback)
        return _WorkerResult(futures, _MAP, self._id)

    def __repr__(self) -> str:
        return f"<followup.dask worker-side handle of pool {self._id[:8]}>"
