"""CPython's own pool tests pass against followup.ThreadPool (run in a subprocess)."""

import pathlib
import subprocess
import sys

SCRIPT = pathlib.Path(__file__).with_name("cpython_pool_tests.py")


def test_cpython_pool_tests_pass():
    proc = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                          timeout=600)
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert summary.startswith("cpython pool tests: 25 run, 0 failures, 0 errors"), summary
