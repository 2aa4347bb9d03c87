#!/bin/sh
# suite.sh — the tests of `make test` once everything is built: the unit tests, the same tests and
# the bad-input corpus (cli.sh) under ASan + UBSan, the integration scripts and the Python tests.
# tests/integration/slurm.sh spends most of its two minutes waiting on Slurm's own timers (a time
# limit is checked every 30 s, a requeued job waits for its credential), so it runs alongside the
# rest, its output kept in a file and shown when it ends. Every other part runs in turn; the Python
# tests run on 2 workers (pytest-xdist, one test file per worker) when the package is there.
# Exit status: 0 when every part passed, else 1, after listing the parts that failed.
# usage (repository root; `make test` builds first and calls it):
#   MAKE=make MOATSIM=bin/moatsim MOATSIM_ASAN=build/asan/moatsim MOATSIM_MPI=... PYTHON=... \
#   sh tests/suite.sh
set -u
MAKE=${MAKE:-make}
PYTHON=${PYTHON:-/usr/bin/python3}
MOATSIM_MPI=${MOATSIM_MPI:-}
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
failed=""

part() { # NAME COMMAND...: run one part, remember it when it fails
  name=$1
  shift
  "$@" || failed="$failed
  $name"
}

# With Open MPI installed, make test builds the MPI variant: without it mpi.sh and slurm.sh's MPI
# job would skip, so a missing build is a failure here, not a quiet skip.
if command -v mpicc >/dev/null 2>&1 && command -v mpirun >/dev/null 2>&1 &&
  { [ -z "$MOATSIM_MPI" ] || [ ! -x "$MOATSIM_MPI" ]; }; then
  echo "FAIL: Open MPI is installed but MOATSIM_MPI='$MOATSIM_MPI' is not the MPI build (make MPI=1)"
  failed="$failed
  the MPI build"
fi

slurm_pid=""
if [ -f tests/integration/slurm.sh ]; then
  echo "== tests/integration/slurm.sh (alongside the rest; its output follows the Python tests)"
  MOATSIM=$MOATSIM MOATSIM_MPI=$MOATSIM_MPI PYTHON=$PYTHON sh tests/integration/slurm.sh \
    > "$LOG" 2>&1 &
  slurm_pid=$!
fi

part "unit tests" $MAKE --no-print-directory unit-tests
part "unit tests (ASan + UBSan)" $MAKE --no-print-directory SANITIZE=1 unit-tests
echo "== tests/integration/cli.sh (ASan + UBSan build: the bad-input corpus)"
part "cli.sh (ASan + UBSan)" env MOATSIM="$MOATSIM_ASAN" PYTHON="$PYTHON" sh tests/integration/cli.sh
for t in tests/integration/*.sh; do
  [ "$t" = tests/integration/slurm.sh ] && continue
  echo "== $t"
  part "$t" env MOATSIM="$MOATSIM" MOATSIM_MPI="$MOATSIM_MPI" PYTHON="$PYTHON" sh "$t"
done
echo "== tests/python"
part "tests/python" $MAKE --no-print-directory python-tests

if [ -n "$slurm_pid" ]; then
  wait "$slurm_pid"
  rc=$?
  echo "== tests/integration/slurm.sh"
  cat "$LOG"
  [ "$rc" -eq 0 ] || failed="$failed
  tests/integration/slurm.sh"
fi

if [ -n "$failed" ]; then
  echo "FAILED:$failed"
  exit 1
fi
echo "make test: every part passed"
