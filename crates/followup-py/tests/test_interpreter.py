"""Interpreter safety, each case in a subprocess with a timeout: Ctrl-C interrupts every
blocking call, and exiting with a pool still open neither crashes nor hangs."""

import signal

import pytest

from conftest import run_python

INTERRUPT = """
import followup, os, signal, threading, time
pool = followup.ThreadPool(2)
def fire():
    time.sleep(0.3)
    os.kill(os.getpid(), signal.SIGINT)
start = time.monotonic()
threading.Thread(target=fire, daemon=True).start()
try:
    {call}
except KeyboardInterrupt:
    print("interrupted after %.3f" % (time.monotonic() - start - 0.3))
pool.terminate()
"""

BLOCKING_CALLS = {
    "get": "pool.apply_async(time.sleep, (3,)).get()",
    "get_timeout": "pool.apply_async(time.sleep, (3,)).get(timeout=60)",
    "wait": "pool.apply_async(time.sleep, (3,)).wait()",
    "apply": "pool.apply(time.sleep, (3,))",
    "map": "pool.map(time.sleep, [3, 3])",
    "join": "pool.apply_async(time.sleep, (3,)); pool.close(); pool.join()",
    "imap_next": "next(pool.imap(time.sleep, [3]))",
}


@pytest.mark.parametrize("name", sorted(BLOCKING_CALLS))
def test_ctrl_c_interrupts_blocking_calls(name):
    # The task runs 3 s; the interrupt must land long before it ends (the target is 100 ms,
    # measured by the benchmark's Ctrl-C check; this bound is generous so load cannot make
    # the test flaky). Exit then waits for the running task, as concurrent.futures does.
    code = INTERRUPT.format(call=BLOCKING_CALLS[name])
    proc = run_python(code, timeout=60)
    assert proc.returncode == 0, proc.stderr
    latency = float(proc.stdout.split("interrupted after")[1])
    assert latency < 1.5, proc.stdout


EXITS = {
    "idle pool": "pool = followup.ThreadPool(2)",
    "queued and running tasks": """
pool = followup.ThreadPool(2)
rs = [pool.apply_async(time.sleep, (0.2,)) for _ in range(50)]
time.sleep(0.05)""",
    "callbacks pending": """
pool = followup.ThreadPool(2)
pool.map_async(time.sleep, [0.05] * 20, chunksize=1, callback=lambda v: print("cb"))
time.sleep(0.05)""",
    "undrained imap": """
pool = followup.ThreadPool(2)
it = pool.imap(abs, range(10**9))
next(it)""",
    "imap input blocked forever": """
ev = threading.Event()
def gen():
    yield 1
    ev.wait()
pool = followup.ThreadPool(2)
it = pool.imap(abs, gen())
next(it)""",
    "closed, not joined": """
pool = followup.ThreadPool(2)
pool.apply_async(time.sleep, (0.1,))
pool.close()""",
    "pool dropped while busy": """
pool = followup.ThreadPool(2)
for _ in range(10): pool.apply_async(time.sleep, (0.05,))
del pool""",
    "daemon thread waiting": """
pool = followup.ThreadPool(1)
first = pool.apply_async(time.sleep, (0.3,))
def waiter():
    first.get()
    sum(range(10**5))
for _ in range(4):
    threading.Thread(target=waiter, daemon=True).start()
time.sleep(0.05)""",
    "CPU-bound task running": """
pool = followup.ThreadPool(2)
def spin():
    t = time.monotonic()
    while time.monotonic() - t < 0.5:
        sum(range(1000))
pool.apply_async(spin)
time.sleep(0.05)""",
}


@pytest.mark.parametrize("name", sorted(EXITS))
def test_exiting_with_a_pool_still_open(name):
    code = "import followup, threading, time\n" + EXITS[name] + "\nprint('bye')\n"
    proc = run_python(code, timeout=60)
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert proc.stdout.strip().splitlines()[0] in ("bye", "cb")
    assert "Fatal" not in proc.stderr and "panicked" not in proc.stderr


def test_ctrl_c_while_exit_waits_for_running_tasks_leaves_at_once_without_crashing():
    code = """
import followup, os, signal, threading, time
pool = followup.ThreadPool(2)
def spin():
    t = time.monotonic()
    while time.monotonic() - t < 20:
        sum(range(1000))
pool.apply_async(spin)
time.sleep(0.1)
def fire():
    time.sleep(0.3)
    os.kill(os.getpid(), signal.SIGINT)
threading.Thread(target=fire, daemon=True).start()
print("bye")
"""
    proc = run_python(code, timeout=60)
    assert proc.returncode == 130, (proc.returncode, proc.stderr)
    assert proc.returncode != -signal.SIGABRT
