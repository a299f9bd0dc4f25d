"""Type stubs for the PyO3 core of followup (``followup._followup``)."""

from typing import Any, Callable, Generic, Iterable, Iterator, Mapping, TypeVar

_T = TypeVar("_T")
_S = TypeVar("_S")

__version__: str

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
    def terminate(self) -> None: ...
    def join(self) -> None: ...
    def _check_running(self) -> None: ...
    def _workers_alive(self) -> bool: ...

def _shutdown_all() -> None: ...
