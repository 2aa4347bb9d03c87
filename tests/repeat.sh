#!/bin/sh
# repeat.sh — run `make test` N times in a row and print one line per run (exit code, seconds, load
# average at its start and end, commit): the evidence that no test depends on the machine's speed
# (docs/cluster.md, "How it is tested"). With --load, stress-ng (if installed) keeps two CPU
# workers and one memory worker busy throughout, as other jobs on a shared machine would.
# Each run's output goes to DIR/run-K.log (DIR: a new temporary directory, printed first).
# Exit status: 0 when every run passed, else 1.
# usage (repository root): sh tests/repeat.sh N [--load]
set -u
N=${1:?usage: sh tests/repeat.sh N [--load]}
LOAD=${2:-}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/moat_repeat.XXXXXX") || exit 1
echo "logs in $DIR"
SP=""
if [ "$LOAD" = --load ]; then
  if ! command -v stress-ng >/dev/null 2>&1; then
    echo "repeat.sh: --load needs stress-ng (apt-get install stress-ng)" >&2
    exit 2
  fi
  stress-ng --cpu 2 --vm 1 --vm-bytes 1G --quiet &
  SP=$!
  trap 'kill $SP 2>/dev/null' EXIT INT TERM
fi
failed=0
k=1
while [ "$k" -le "$N" ]; do
  start=$(date +%s)
  l0=$(cut -d' ' -f1 /proc/loadavg)
  make test >"$DIR/run-$k.log" 2>&1
  rc=$?
  l1=$(cut -d' ' -f1 /proc/loadavg)
  [ "$rc" -eq 0 ] || failed=$((failed + 1))
  echo "run $k rc=$rc seconds=$(($(date +%s) - start)) load_start=$l0 load_end=$l1 commit=$(git rev-parse --short HEAD)"
  k=$((k + 1))
done
echo "$((N - failed)) of $N runs passed"
[ "$failed" -eq 0 ]
