#!/bin/sh
# mpi_paths.sh — one scenario's paths across MPI ranks: the throughput of `mpirun -n 2 moatsim run
# --threads 1` against one process with --threads 2, both the MPI build, on the baseline with
# fewer paths. Rounds alternate the two (the order swapped each round) so that both see the
# same machine; per round the ratio of the 2-rank throughput to the 2-thread one, then the
# median over rounds. Two clocks: the run's own (from the scenario loaded to the file
# committed, as its final line says) and the whole command (mpirun's start-up included).
# Prints `name value unit` lines.
# Usage: sh tests/bench/mpi_paths.sh MOATSIM_MPI SCENARIO [PATHS] [ROUNDS]   (default 32, 3)
set -eu
MPI_BIN=$1
SCENARIO=$2
PATHS=${3:-32}
ROUNDS=${4:-3}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
# One node, no remote launcher; root allowed (containers). --bind-to none: Open MPI would
# otherwise bind each rank to one core, which is right here (1 thread a rank) but not for the
# 2-thread process, which is started without mpirun (an MPI singleton).
export OMPI_MCA_btl=self,vader OMPI_MCA_plm=isolated OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
now() { date +%s.%N; }
# run_one KIND: one run, "run_seconds command_seconds" appended to $TMP/KIND
run_one() {
  t0=$(now)
  if [ "$1" = ranks ]; then
    mpirun --bind-to none -n 2 "$MPI_BIN" run "$SCENARIO" --paths "$PATHS" --threads 1 --quiet --force \
      -o "$TMP/ranks.h5" > "$TMP/out"
  else
    "$MPI_BIN" run "$SCENARIO" --paths "$PATHS" --threads 2 --quiet --force -o "$TMP/threads.h5" > "$TMP/out"
  fi
  t1=$(now)
  # "wrote F: ...; 48 paths each, 2 threads, 12.34 s (HDF5 writing 0.123 s)"
  run_s=$(sed -n 's/.* \([0-9.]*\) s (HDF5 writing .*/\1/p' "$TMP/out")
  echo "$run_s $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" >> "$TMP/$1"
}
: > "$TMP/ranks"
: > "$TMP/threads"
r=1
while [ $r -le "$ROUNDS" ]; do
  if [ $((r % 2)) -eq 1 ]; then run_one threads; run_one ranks; else run_one ranks; run_one threads; fi
  r=$((r + 1))
done
"${PYTHON:-/usr/bin/python3}" - "$TMP/threads" "$TMP/ranks" "$PATHS" <<'EOF'
import sys
import numpy as np
t = np.loadtxt(sys.argv[1], ndmin=2)
r = np.loadtxt(sys.argv[2], ndmin=2)
paths = float(sys.argv[3])
# throughput ratio per round = time(2 threads) / time(2 ranks)
run = t[:, 0] / r[:, 0]
cmd = t[:, 1] / r[:, 1]
print("mpi_paths_per_scenario %d 1" % paths)
print("mpi_rounds %d 1" % len(run))
print("mpi_paths_per_second_1_process_2_threads %.4g 1/s" % (paths / np.median(t[:, 0])))
print("mpi_paths_per_second_2_ranks_1_thread %.4g 1/s" % (paths / np.median(r[:, 0])))
print("mpi_2_ranks_to_2_threads_ratio %.3f 1" % np.median(run))
print("mpi_2_ranks_to_2_threads_ratio_min %.3f 1" % run.min())
print("mpi_2_ranks_to_2_threads_ratio_max %.3f 1" % run.max())
print("mpi_2_ranks_to_2_threads_ratio_command %.3f 1" % np.median(cmd))
EOF
