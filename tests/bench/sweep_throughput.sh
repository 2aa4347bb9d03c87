#!/bin/sh
# sweep_throughput.sh — scenarios per minute of `moatsim run` on a reduced drivers-style design:
# a Latin-hypercube sweep of 64 scenarios over six of the baseline's drivers (quality gap,
# compute cost decline, demand growth, price elasticity, local adoption and its cost), 16 paths
# each, 3 years (36 monthly steps), 100 enterprises, 2 threads. The figure to compare later
# changes (sampling, kernel, scheduling) against on the same design.
# usage: sh tests/bench/sweep_throughput.sh MOATSIM [SCENARIO]   (from the repository root)
# Prints `name value unit` lines: sweep_scenarios, sweep_paths_per_scenario, sweep_wall_seconds,
# sweep_cpu_seconds, sweep_scenarios_per_minute (wall, 2 threads) and
# sweep_scenarios_per_cpu_minute (user + system CPU: less disturbed by other jobs).
set -eu
MOATSIM=$1
SCENARIO=${2:-scenarios/baseline.cfg}
SCENARIOS=64
PATHS=16
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

sed '/^sweep = {/,$d' "$SCENARIO" >"$TMP/design.cfg"
cat >>"$TMP/design.cfg" <<CFG
sweep = { method = "lhs"; samples = $SCENARIOS; axes = (
  { param = "quality_gap.long_run"; min = 0.01; max = 0.08; },
  { param = "price_compression.cost_decline_per_year"; min = 0.2; max = 0.6; },
  { param = "market.demand_growth_per_year"; min = 0.5; max = 3.0; },
  { param = "market.price_elasticity"; min = 0.4; max = 1.2; },
  { param = "local_inference.imitation"; min = 0.1; max = 0.8; },
  { param = "local_inference.cost_decline_per_year"; min = 0.2; max = 0.7; } ); };
CFG
/usr/bin/time -v "$MOATSIM" run "$TMP/design.cfg" -o "$TMP/design.h5" --quiet --threads 2 \
  --paths $PATHS --set horizon_years=3 --set enterprises.count=100 >"$TMP/out" 2>"$TMP/time"
# "wrote FILE: 64 scenarios, 16 paths each, 2 threads, 12.34 s (HDF5 writing 0.123 s)"
wall=$(sed -n 's/.* \([0-9.]*\) s (HDF5 writing.*/\1/p' "$TMP/out")
cpu=$(awk -F': ' '/User time|System time/ { s += $2 } END { print s }' "$TMP/time")
echo "sweep_scenarios $SCENARIOS 1"
echo "sweep_paths_per_scenario $PATHS 1"
echo "sweep_wall_seconds $wall s"
echo "sweep_cpu_seconds $cpu s"
awk -v n=$SCENARIOS -v w="$wall" -v c="$cpu" 'BEGIN {
  printf "sweep_scenarios_per_minute %.4g 1/min\n", 60 * n / w
  printf "sweep_scenarios_per_cpu_minute %.4g 1/min\n", 60 * n / c }'
