"""Shared fixtures. Every blocking call in these tests carries a timeout, and code that could
hang an interpreter (exit, Ctrl-C) runs in a subprocess with one, so a deadlock fails a test
instead of hanging the suite."""

import os
import subprocess
import sys
import textwrap

import pytest

import followup

#: Upper bound for any single wait in a test; far above any expected duration.
WAIT = 30


@pytest.fixture
def pool():
    p = followup.ThreadPool(4)
    yield p
    p.terminate()
    p.join()


def run_python(code: str, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh interpreter with faulthandler on; returns the completed process."""
    env = dict(os.environ, PYTHONFAULTHANDLER="1", PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **kwargs,
    )


def occupy(pool, workers: int):
    """Makes `workers` tasks block on a gate and returns (gate, their results) once all of
    them are *running*: work issued afterwards is then surely queued, not started (the engine
    may take queued work in batches, so queueing order alone proves nothing)."""
    import threading

    gate = threading.Event()
    started = threading.Semaphore(0)

    def block():
        started.release()
        return gate.wait(WAIT)

    blockers = [pool.apply_async(block) for _ in range(workers)]
    for _ in range(workers):
        assert started.acquire(timeout=WAIT), "a blocker did not start"
    return gate, blockers
