"""Type stubs for the PyO3 core of followup (``followup._followup``)."""

import concurrent.futures
from typing import Any, Callable, Generator, Generic, Iterable, Iterator, Mapping, TypeVar

_T = TypeVar("_T")
_S = TypeVar("_S")

__version__: str

def is_cancelled() -> bool:
    """True inside a task whose ``cancel()`` was called (or deadline passed) while it ran."""

class AsyncResult(Generic[_T]):
    """The result of ``apply_async``/``map_async`` (Python's ``ApplyResult``/``MapResult``)."""

    def ready(self) -> bool:
        """True once the task has finished and its callback has run."""
    def successful(self) -> bool:
        """Whether the task finished without raising; ``ValueError`` if not ready."""
    def wait(self, timeout: float | None = None) -> None:
        """Waits until ready or ``timeout`` seconds pass."""
    def get(self, timeout: float | None = None) -> _T:
        """The value; raises the task's exception, or ``multiprocessing.TimeoutError``."""
    def __class_getitem__(cls, item: Any) -> Any: ...
    def add_done_callback(self, fn: Callable[[AsyncResult[_T]], object]) -> None:
        """Calls ``fn(result)`` once ready, on the pool's callback thread (at once if ready)."""
    def cancel(self) -> bool:
        """Cancels the task if it has not started; a running task is only asked to stop."""
    def cancelled(self) -> bool:
        """True if ``cancel()`` stopped the task before it started."""
    def map(self, fn: Callable[[_T], _S]) -> AsyncResult[_S]:
        """``fn(value)`` as a task once this succeeds; exceptions pass through."""
    def then(self, fn: Callable[[AsyncResult[_T]], _S]) -> AsyncResult[_S]:
        """``fn(this ready result)`` as a task, whatever the outcome."""
    def recover(self, fn: Callable[[BaseException], _S]) -> AsyncResult[_T | _S]:
        """On failure, ``fn(exception)`` as a task; a value passes through."""
    def and_then(self, fn: Callable[[_T], AsyncResult[_S]]) -> AsyncResult[_S]:
        """``fn(value)`` issues a follow-up and returns its result, which this flattens."""
    def when(self, test: Callable[[_T], object], fn: Callable[[_T], _S]) -> AsyncResult[_S | None]:
        """If ``test(value)``, ``fn(value)`` as a task; else None."""
    def timeout(self, seconds: float) -> AsyncResult[_T]:
        """A deadline on the work: ``followup.DeadlineExceeded`` and the work cancelled."""
    def as_future(self) -> concurrent.futures.Future[_T]:
        """A ``concurrent.futures.Future`` completed with this result."""
    def __await__(self) -> Generator[Any, None, _T]: ...
    def _set_result(self, value: Any) -> bool: ...
    def _set_exception(self, exception: BaseException) -> bool: ...
    def _submit(
        self,
        func: Callable[..., Any],
        args: Iterable[Any],
        callback: Callable[[Any], object] | None = None,
        error_callback: Callable[[BaseException], object] | None = None,
    ) -> AsyncResult[Any]: ...
    def _promise(self) -> AsyncResult[Any]: ...

class IMapIterator(Iterator[_T]):
    """The iterator of ``imap``/``imap_unordered``."""

    def __iter__(self) -> IMapIterator[_T]: ...
    def __next__(self) -> _T: ...
    def next(self, timeout: float | None = None) -> _T:
        """The next result within ``timeout`` seconds, else ``multiprocessing.TimeoutError``."""

class Pool:
    """The engine-backed core of ``followup.ThreadPool``."""

    _state: str
    def __new__(
        cls,
        processes: int | None = None,
        initializer: Callable[..., object] | None = None,
        initargs: Iterable[Any] = (),
        *,
        parallel_callbacks: bool = False,
    ) -> Pool: ...
    @property
    def _processes(self) -> int: ...
    def apply(
        self, func: Callable[..., _T], args: Iterable[Any] = (), kwds: Mapping[str, Any] = {}
    ) -> _T: ...
    def apply_async(
        self,
        func: Callable[..., _T],
        args: Iterable[Any] = (),
        kwds: Mapping[str, Any] = {},
        callback: Callable[[_T], object] | None = None,
        error_callback: Callable[[BaseException], object] | None = None,
    ) -> AsyncResult[_T]: ...
    def map(
        self, func: Callable[[_S], _T], iterable: Iterable[_S], chunksize: int | None = None
    ) -> list[_T]: ...
    def map_async(
        self,
        func: Callable[[_S], _T],
        iterable: Iterable[_S],
        chunksize: int | None = None,
        callback: Callable[[list[_T]], object] | None = None,
        error_callback: Callable[[BaseException], object] | None = None,
    ) -> AsyncResult[list[_T]]: ...
    def starmap(
        self,
        func: Callable[..., _T],
        iterable: Iterable[Iterable[Any]],
        chunksize: int | None = None,
    ) -> list[_T]: ...
    def starmap_async(
        self,
        func: Callable[..., _T],
        iterable: Iterable[Iterable[Any]],
        chunksize: int | None = None,
        callback: Callable[[list[_T]], object] | None = None,
        error_callback: Callable[[BaseException], object] | None = None,
    ) -> AsyncResult[list[_T]]: ...
    def imap(
        self, func: Callable[[_S], _T], iterable: Iterable[_S], chunksize: int = 1
    ) -> IMapIterator[_T]: ...
    def imap_unordered(
        self, func: Callable[[_S], _T], iterable: Iterable[_S], chunksize: int = 1
    ) -> IMapIterator[_T]: ...
    def close(self) -> None: ...
    def stats(self) -> dict[str, Any]:
        """The engine's counters: submitted, completed, panicked, cancelled, queued, running,
        and ``workers``: one dict per worker thread (executed, steals, parks)."""
    def terminate(self) -> None: ...
    def join(self) -> None: ...
    def _check_running(self) -> None: ...
    def _workers_alive(self) -> bool: ...
    def _promise(self) -> AsyncResult[Any]: ...

def _shutdown_all() -> None: ...
