"""The Dask backend is optional: the local pool never imports dask or distributed."""

from conftest import run_python


def test_import_followup_and_the_local_pool_do_not_import_dask():
    proc = run_python(
        """
        import sys
        import followup
        with followup.ThreadPool(2) as pool:
            assert pool.map(abs, [-1, -2]) == [1, 2]
        loaded = sorted(m for m in sys.modules
                        if m.split(".")[0] in ("dask", "distributed") or m == "followup.dask")
        print(loaded)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
