"""Progress for ``map``/``imap``/``imap_unordered``: a tqdm bar (``progress=True``) or any
front end (``progress=callable``, called as ``progress(done, total)``)."""

from __future__ import annotations

from typing import Any, Callable


class _Reporter:
    def __init__(self, progress, total) -> None:
        self._done = 0
        self._total = total
        self._bar: Any = None
        self._call: Callable[[int, Any], object] | None = None
        if progress is True:
            try:
                from tqdm import tqdm
            except ImportError:
                raise ImportError(
                    "progress=True draws a tqdm bar: pip install tqdm (or pass a callable "
                    "progress(done, total))") from None
            self._bar = tqdm(total=total)
        elif callable(progress):
            self._call = progress
        else:
            raise TypeError(f"progress must be True or a callable, not {progress!r}")

    def advance(self) -> None:
        self._done += 1
        if self._bar is not None:
            self._bar.update(1)
        elif self._call is not None:
            self._call(self._done, self._total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def progress_reporter(progress, total) -> _Reporter:
    """A reporter for `progress` over `total` items (None when unknown)."""
    return _Reporter(progress, total)


def with_progress(items, reporter: _Reporter):
    """Yields `items`, reporting each one."""
    try:
        for item in items:
            reporter.advance()
            yield item
    finally:
        reporter.close()


def _capture(func):
    """``func`` returning ``(True, value)`` or ``(False, exception)``: per-item outcomes."""
    def run(item):
        try:
            return (True, func(item))
        except BaseException as exc:
            return (False, exc)

    return run


def map_with_progress(imap, func, items: list, chunksize: int, progress) -> list:
    """``map`` through an ordered ``imap(func, items, chunksize)`` that reports each item.

    Not fail-fast, as ``map``: every item runs, then the exception of the lowest failing
    index is raised.
    """
    outcomes = with_progress(imap(_capture(func), items, chunksize),
                             progress_reporter(progress, len(items)))
    values, first_error = [], None
    for ok, value in outcomes:
        if not ok and first_error is None:
            first_error = value
        values.append(value)
    if first_error is not None:
        raise first_error
    return values
