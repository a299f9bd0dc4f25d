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
