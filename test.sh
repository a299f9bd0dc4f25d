#!/usr/bin/env bash
# Every test of the repository, Rust and Python alike: the README's test command.
#
# 1. `cargo test`: the library, the command, their doctests.
# 2. The Python package: a wheel built by maturin, installed into a venv of its own
#    (target/py-venv, made on first use; maturin, pytest and dask[distributed] come from pip
#    when the machine lacks them), then its pytest suite, which also runs CPython's own pool
#    tests against it and the Dask backend's tests on a LocalCluster.
set -euo pipefail
cd "$(dirname "$0")"

echo "=== cargo test"
# --no-fail-fast: one failing test binary must not hide the others' results.
cargo test --no-fail-fast

echo "=== python package: build and install the wheel"
PYTHON="${PYTHON:-python3}"
VENV="${FOLLOWUP_VENV:-target/py-venv}"
if [ ! -x "$VENV/bin/python" ]; then
  # --system-site-packages: reuse the machine's maturin and pytest when it has them.
  "$PYTHON" -m venv --system-site-packages "$VENV"
fi
PY="$VENV/bin/python"
MATURIN="$VENV/bin/maturin"
if [ ! -x "$MATURIN" ]; then
  MATURIN="$(command -v maturin || true)"
fi
if [ -z "$MATURIN" ]; then
  "$PY" -m pip install --quiet "maturin>=1.9.4,<2"
  MATURIN="$VENV/bin/maturin"
fi
"$PY" -c "import pytest" 2>/dev/null || "$PY" -m pip install --quiet "pytest>=7"
# The Dask backend's tests (tests/test_dask*.py) start a LocalCluster; they skip without dask.
"$PY" -c "import distributed" 2>/dev/null || "$PY" -m pip install --quiet "dask[distributed]>=2024.1"
# progress=True draws a tqdm bar; its test skips without tqdm.
"$PY" -c "import tqdm" 2>/dev/null || "$PY" -m pip install --quiet "tqdm>=4"
rm -rf target/wheels
"$MATURIN" build --release --quiet -m crates/followup-py/Cargo.toml \
  --interpreter "$PY" -o target/wheels
"$PY" -m pip install --quiet --force-reinstall --no-deps target/wheels/followup-*.whl

echo "=== python package: pytest (with CPython's pool tests)"
cd crates/followup-py
# The suite bounds every wait itself; this outer bound turns a hang into a failure.
timeout 1200 "$OLDPWD/$PY" -m pytest
