#!/bin/sh
# sweep_memory.sh — peak resident memory of `moatsim run` as the number of scenarios grows:
# one scenario's path results are in memory at a time, so the peak should stay flat (only the
# per-scenario flags and the /params values, a few bytes a scenario, grow with the sweep).
# Measures Latin-hypercube sweeps of 20, 200 and 2000 scenarios (4 paths, 50 enterprises,
# 2 years; sweep6's labs) with /usr/bin/time -v and prints `scenarios peak_MiB seconds file_MiB`.
# usage: sh tests/bench/sweep_memory.sh [MOATSIM] [COUNTS...]   (from the repository root)
set -eu
MOATSIM=${1:-bin/moatsim}
[ $# -gt 0 ] && shift
COUNTS=${*:-20 200 2000}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

printf '%10s %12s %10s %10s\n' scenarios peak_MiB seconds file_MiB
for n in $COUNTS; do
  sed '/^sweep = {/,$d' tests/data/sweep6.cfg >"$TMP/s.cfg"
  cat >>"$TMP/s.cfg" <<CFG
sweep = { method = "lhs"; samples = $n; axes = (
  { param = "quality_gap.long_run"; min = 0.01; max = 0.08; },
  { param = "price_compression.cost_decline_per_year"; min = 0.1; max = 0.7; } ); };
CFG
  /usr/bin/time -v "$MOATSIM" run "$TMP/s.cfg" -o "$TMP/s.h5" --quiet --threads 2 --paths 4 \
    --set horizon_years=2 --set enterprises.count=50 >"$TMP/out" 2>"$TMP/time"
  kb=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$TMP/time")
  wall=$(awk '/Elapsed \(wall clock\)/ { print $NF }' "$TMP/time")
  bytes=$(wc -c <"$TMP/s.h5")
  printf '%10s %12.1f %10s %10.1f\n' "$n" "$(echo "$kb / 1024" | bc -l)" "$wall" "$(echo "$bytes / 1048576" | bc -l)"
  rm -f "$TMP/s.h5"
done
