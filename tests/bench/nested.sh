#!/bin/sh
# nested.sh — the pricing solver against enterprises.host_similarity (sigma, MODEL.md §5-6):
# zeta iterations per step (mean and maximum), unconverged steps and CPU seconds per path, one
# thread, each path timed by the fastest of 3 runs (bench_run best). Part of `make bench`.
# usage: sh tests/bench/nested.sh BENCH_DIR [PATHS]   (default 8: baseline paths 0-7, 10 years)
# Prints `name value unit` lines (name suffix: sigma), then a markdown table.
set -eu
BENCH=$1
PATHS=${2:-8}
SCENARIO=${BENCH_SCENARIO:-scenarios/baseline.cfg}
export OMP_NUM_THREADS=1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
value() { awk -v n="$1" '$1 == n { print $2; exit }' "$2"; }
: > "$TMP/table"
for s in 0 0.5 0.8 0.9 0.95; do
  "$BENCH/bench_run" "$SCENARIO" "$PATHS" best "enterprises.host_similarity=$s" > "$TMP/one"
  it=$(value run_iterations_per_path "$TMP/one")
  steps=$(value run_steps "$TMP/one")
  ips=$(awk "BEGIN { printf \"%.1f\", $it / $steps }")
  cpu=$(value run_cpu_seconds_per_path "$TMP/one")
  mx=$(value run_max_iterations_per_step "$TMP/one")
  nc=$(value run_nonconverged_steps_per_path "$TMP/one")
  echo "nested_iterations_per_step_sigma_$s $ips 1"
  echo "nested_max_iterations_per_step_sigma_$s $mx 1"
  echo "nested_nonconverged_steps_per_path_sigma_$s $nc 1"
  echo "nested_cpu_seconds_per_path_sigma_$s $cpu s"
  echo "| $s | $ips | $mx | $nc | $(awk "BEGIN { printf \"%.3f\", $cpu }") |" >> "$TMP/table"
done
echo "| host_similarity | iterations / step | max iterations / step | unconverged steps / path | CPU s / path |"
echo "|---|---|---|---|---|"
cat "$TMP/table"
