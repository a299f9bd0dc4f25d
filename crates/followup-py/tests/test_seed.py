"""The tutorial's two programs, unchanged but for the import, and python -m followup."""

import pathlib
import re
import sys

from conftest import run_python

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def check_tutorial_output(out: str) -> None:
    lines = out.strip().splitlines()
    assert lines[-1] == "All done."
    firsts = [ln for ln in lines if re.fullmatch(r">\d+ generated [0-9.e-]+", ln)]
    follow = [ln for ln in lines if re.fullmatch(r">>\d+ with [0-9.e-]+, generated [0-9.e-]+", ln)]
    assert sorted(int(ln[1:].split()[0]) for ln in firsts) == list(range(10))
    above = {int(ln[1:].split()[0]) for ln in firsts if float(ln.split()[-1]) > 0.5}
    assert {int(ln[2:].split()[0]) for ln in follow} == above


def run_example(name: str) -> str:
    source = (EXAMPLES / name).read_text()
    assert "from followup import ThreadPool" in source
    proc = run_python(source, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_tutorial_manual_program():
    check_tutorial_output(run_example("tutorial_manual.py"))


def test_tutorial_callback_program():
    check_tutorial_output(run_example("tutorial_callback.py"))


def test_closing_early_is_no_longer_a_trap():
    check_tutorial_output(run_example("close_early.py"))


def test_python_dash_m_followup_runs_both_programs():
    proc = run_python(
        "import runpy, sys; sys.argv = ['followup', '--time-scale', '0', '--seed', '7'];"
        " runpy.run_module('followup', run_name='__main__')",
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("All done.") == 2
    assert "# manual" in proc.stdout and "# callback" in proc.stdout


def test_python_dash_m_followup_refuses_bad_arguments():
    import subprocess

    for args in (["--tasks", "0"], ["--time-scale", "1e308"], ["--workers", "-1"]):
        proc = subprocess.run([sys.executable, "-m", "followup", *args],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and "error" in proc.stderr


def test_the_tutorials_programs_written_three_ways_give_the_same_results():
    proc = run_python((EXAMPLES / "three_ways.py").read_text(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "All six ways gave the same" in proc.stdout
    for way in ("manual_continuations", "manual_as_completed", "callback_continuations",
                "callback_as_completed"):
        assert f"# {way}" in proc.stdout
