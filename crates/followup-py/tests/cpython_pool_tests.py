"""CPython's own ThreadPool tests, run against followup.ThreadPool.

The pool tests of ``Lib/test/_test_multiprocessing.py`` (``_TestPool``) for the 'threads'
dialect build their pools through ``multiprocessing.dummy.Pool``, which imports
``multiprocessing.pool.ThreadPool`` at call time; setting that name to
``followup.ThreadPool`` first makes every one of them test followup. Run as a script (the
pytest suite runs it in a subprocess with a timeout): exits 0 only if every test passed and
none was skipped other than the one CPython itself skips for threads.

    python tests/cpython_pool_tests.py [-v]
"""

import faulthandler
import multiprocessing.dummy
import multiprocessing.pool
import sys
import unittest

import followup

# A deadlock prints every thread's stack and exits instead of hanging the caller.
faulthandler.dump_traceback_later(300, exit=True)

multiprocessing.pool.ThreadPool = followup.ThreadPool

from test import support  # noqa: E402  (after the substitution, on purpose)

# 3.11's test_terminate sleeps LONG_TIMEOUT (300 s) per task; CPython main uses 1 s for
# threads, whose workers "can't be forced to quit".
support.LONG_TIMEOUT = 1

import test._test_multiprocessing as cpython_tests  # noqa: E402

EXPECTED_SKIPS = {"test_map_unplicklable"}  # "test not appropriate for threads"


def main() -> int:
    probe = multiprocessing.dummy.Pool(1)
    assert isinstance(probe, followup.ThreadPool), type(probe)
    probe.close()
    probe.join()

    namespace = {"__name__": "cpython_pool_tests"}
    cpython_tests.install_tests_in_module_dict(namespace, "fork", only_type="threads")
    loader = unittest.TestLoader()
    suite = unittest.TestSuite(
        loader.loadTestsFromTestCase(case)
        for name, case in sorted(namespace.items())
        if isinstance(case, type) and issubclass(case, unittest.TestCase) and "Pool" in name
    )
    namespace["setUpModule"]()
    try:
        verbosity = 2 if "-v" in sys.argv else 1
        result = unittest.TextTestRunner(verbosity=verbosity).run(suite)
    finally:
        namespace["tearDownModule"]()
    skipped = {test._testMethodName for test, _ in result.skipped}
    print(
        f"cpython pool tests: {result.testsRun} run, {len(result.failures)} failures, "
        f"{len(result.errors)} errors, {len(skipped)} skipped ({', '.join(sorted(skipped))})"
    )
    ok = result.wasSuccessful() and skipped <= EXPECTED_SKIPS and result.testsRun >= 25
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
