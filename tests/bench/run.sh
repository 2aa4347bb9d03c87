#!/bin/sh
# run.sh — the figures of `make bench` (docs/performance.md): pricing kernel against a bare exp
# loop, C paths against the NumPy reference on one core, OpenMP efficiency, HDF5 share of wall
# time, peak memory, how time grows with enterprises, offers, paths and steps, and the solver's
# iterations against the nested logit's host_similarity (tests/bench/nested.sh), the same
# benchmarks built at -O2 against -O3, and the throughput of a reduced sweep
# (tests/bench/sweep_throughput.sh), and one scenario's paths on 2 MPI ranks x 1 thread against
# 1 process x 2 threads (tests/bench/mpi_paths.sh; with the MPI build MOATSIM_MPI and mpirun).
# usage: [BENCH_O2=DIR] [MOATSIM_MPI=build/release-mpi/moatsim] sh tests/bench/run.sh MOATSIM BENCH_DIR
#   BENCH_DIR holds the built tests/bench/*.c (the default OPT, -O3), BENCH_O2 the same built
#   with OPT=-O2 (`make bench` builds both; without BENCH_O2 section (h) is left out).
# Prints `name value unit` lines, then a table. Takes a few minutes on two cores.
set -eu
MOATSIM=$1
BENCH=$2
BENCH_O2=${BENCH_O2:-}
PYTHON=${PYTHON:-/usr/bin/python3}
SCENARIO=${BENCH_SCENARIO:-scenarios/baseline.cfg}
HERE=$(dirname "$0")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
LINES=$TMP/lines

# One core for every single-core comparison; BLAS threads off for NumPy (OPENBLAS_CORETYPE as set).
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

emit() { # name value unit
  echo "$1 $2 $3" | tee -a "$LINES"
}
value() { # name FILE: the value of `name value unit` in FILE
  awk -v n="$1" '$1 == n { print $2; exit }' "$2"
}
calc() { # awk expression
  awk "BEGIN { printf \"%.4g\", $1 }"
}

echo "== machine"
emit cpu_model "$(lscpu | sed -n 's/^Model name: *//p' | tr ' ' '_')" 1
emit cpu_cores "$(nproc --all)" 1  # --all: plain nproc obeys OMP_NUM_THREADS
emit load_average_1min "$(cut -d' ' -f1 /proc/loadavg)" 1

echo "== (a) pricing kernel against bare vectorized exp loops (one core, thread CPU time)"
# Interleaved rounds (kernel, then exp, the order alternating) over arrays of the same size; the
# median of the rounds' ratios and its spread (lowest, highest round): see bench_kernel.c.
"$BENCH/bench_kernel" > "$TMP/kernel"
cat "$TMP/kernel"
emit kernel_evaluations_per_second "$(value kernel_share_evaluations "$TMP/kernel")" 1/s
emit exp_evaluations_per_second "$(value kernel_exp_evaluations "$TMP/kernel")" 1/s
emit kernel_to_exp_ratio "$(value kernel_share_to_exp_ratio "$TMP/kernel")" 1
emit kernel_to_exp_ratio_min "$(value kernel_share_to_exp_ratio_min "$TMP/kernel")" 1
emit kernel_to_exp_ratio_max "$(value kernel_share_to_exp_ratio_max "$TMP/kernel")" 1
# glibc's libmvec exp (the machine's vector exp) in the same rounds
emit libmvec_exp_evaluations_per_second "$(value kernel_libmvec_exp_evaluations "$TMP/kernel")" 1/s
emit kernel_to_libmvec_ratio "$(value kernel_share_to_libmvec_ratio "$TMP/kernel")" 1
emit kernel_to_libmvec_ratio_min "$(value kernel_share_to_libmvec_ratio_min "$TMP/kernel")" 1
emit kernel_to_libmvec_ratio_max "$(value kernel_share_to_libmvec_ratio_max "$TMP/kernel")" 1
emit kernel_prices_hash "$(value kernel_prices_hash "$TMP/kernel")" 1
emit kernel_to_exp_rounds "$(value kernel_rounds "$TMP/kernel")" 1
emit kernel_array_elements "$(value kernel_array_elements "$TMP/kernel")" 1

echo "== (b) C against the NumPy reference on the same baseline path (one core)"
"$BENCH/dump_state" "$SCENARIO" "$TMP/path0.json" 0
# fastest of 3 runs for C, of 2 for NumPy (other jobs only ever slow a run down)
"$BENCH/bench_run" "$SCENARIO" 1 best > "$TMP/c_path"
"$PYTHON" "$HERE/reference.py" "$TMP/path0.json" --repeat 2 > "$TMP/numpy_path"
cat "$TMP/c_path" "$TMP/numpy_path"
c_s=$(value run_cpu_seconds_per_path "$TMP/c_path")
c_it=$(value run_iterations_per_path "$TMP/c_path")
np_s=$(value numpy_path_seconds "$TMP/numpy_path")
np_it=$(value numpy_iterations_per_path "$TMP/numpy_path")
emit c_paths_per_second "$(calc "1 / $c_s")" 1/s
emit numpy_paths_per_second "$(calc "1 / $np_s")" 1/s
emit c_to_numpy_path_ratio "$(calc "$np_s / $c_s")" 1
# The two solvers may need different iteration counts where a step has several equilibria
# (numpy_steps_matching says for how many leading steps they agree), so also per iteration:
emit c_to_numpy_iteration_ratio "$(calc "($np_s / $np_it) / ($c_s / $c_it)")" 1

"$BENCH/bench_run" "$SCENARIO" 8 best > "$TMP/c_paths"
emit c_baseline_seconds_per_path_8_paths "$(value run_cpu_seconds_per_path "$TMP/c_paths")" s
emit c_baseline_iterations_per_path_8_paths "$(value run_iterations_per_path "$TMP/c_paths")" 1
emit c_baseline_iterations_per_step_8_paths \
  "$(calc "$(value run_iterations_per_path "$TMP/c_paths") / $(value run_steps "$TMP/c_paths")")" 1
emit schedule_efficiency_2_threads_8_paths "$(value run_schedule_efficiency_2_threads "$TMP/c_paths")" 1

echo "== (c) OpenMP: whole-run throughput at 1 and 2 threads (moatsim run, wall time)"
# 32 paths: enough that unequal path lengths and the run's serial parts (file creation,
# summaries) do not dominate, as they do not in real runs of hundreds of paths.
RUN_PATHS=32
RUN_SETS="--paths $RUN_PATHS --set enterprises.count=500"
# Three runs each, the fastest kept: other jobs on the machine only ever make a run slower.
for t in 1 2; do
  : > "$TMP/walls$t"
  for rep in 1 2 3; do
    /usr/bin/time -v "$MOATSIM" run "$SCENARIO" $RUN_SETS --threads $t -o "$TMP/run$t.h5" --force \
      --quiet > "$TMP/run$t" 2> "$TMP/time$t.$rep"
    cat "$TMP/run$t"
    # "wrote FILE: 1 scenario, 32 paths each, 2 threads, 12.34 s (HDF5 writing 0.123 s)"
    sed -n "s/.* \([0-9.]*\) s (HDF5 writing \([0-9.]*\) s).*/\1 \2 $rep/p" "$TMP/run$t" >> "$TMP/walls$t"
  done
  sort -n "$TMP/walls$t" | head -n 1 > "$TMP/wall$t"
  cp "$TMP/time$t.$(cut -d' ' -f3 "$TMP/wall$t")" "$TMP/time$t"
done
w1=$(cut -d' ' -f1 "$TMP/wall1")
w2=$(cut -d' ' -f1 "$TMP/wall2")
emit run_paths_per_second_1_thread "$(calc "$RUN_PATHS / $w1")" 1/s
emit run_paths_per_second_2_threads "$(calc "$RUN_PATHS / $w2")" 1/s
emit openmp_efficiency_1_thread 1 1
emit openmp_efficiency_2_threads "$(calc "$w1 / (2 * $w2)")" 1
# Wall time is only meaningful on an otherwise idle machine. CPU time says how much work the
# threads add (scheduling, shared caches, summaries): efficiency by CPU = CPU(1) / CPU(2).
cpu() { awk -F': ' '/User time|System time/ { s += $2 } END { print s }' "$1"; }
emit openmp_efficiency_2_threads_cpu "$(calc "$(cpu "$TMP/time1") / $(cpu "$TMP/time2")")" 1

echo "== (d) HDF5 writing, (e) peak memory (the 2-thread run)"
h5=$(cut -d' ' -f2 "$TMP/wall2")
emit hdf5_write_seconds "$h5" s
emit hdf5_write_share "$(calc "$h5 / $w2")" 1
# The file's size does not grow with paths (summaries only), so for the full baseline run the
# share is the same write time over the paths' time on two threads:
paths=$(sed -n 's/^paths *= *\([0-9]*\).*/\1/p' "$SCENARIO")
c_mean=$(value c_baseline_seconds_per_path_8_paths "$LINES")
emit hdf5_write_share_baseline_projected "$(calc "$h5 / ($h5 + ${paths:-200} * $c_mean / 2)")" 1
emit baseline_run_seconds_projected_2_cores "$(calc "${paths:-200} * $c_mean / 2")" s
emit peak_rss_2_threads "$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$TMP/time2")" kB
emit peak_rss_1_thread "$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$TMP/time1")" kB

echo "== (f) scaling: CPU seconds of one path (of all paths for paths) against size (one thread; log-log slopes)"
scale() { # name: then `size KEY=VALUE...` entries separated by commas
  name=$1
  shift
  : > "$TMP/scale_$name"
  echo "$*" | tr ',' '\n' | while read -r size sets; do
    [ -n "$size" ] || continue
    # shellcheck disable=SC2086
    "$BENCH/bench_run" "$SCENARIO" $sets > "$TMP/one"
    # total CPU seconds and zeta iterations of the run (for paths: all paths; else one path)
    echo "$size $(value run_cpu_seconds "$TMP/one") $(value run_iterations_per_path "$TMP/one")" \
      "$(value run_paths "$TMP/one")" >> "$TMP/scale_$name"
    echo "  $name=$size: $(value run_cpu_seconds_per_path "$TMP/one") s/path," \
      "$(value run_iterations_per_path "$TMP/one") iterations/path"
  done
  "$PYTHON" - "$TMP/scale_$name" "$name" <<'EOF' | tee -a "$LINES"
import sys
import numpy as np
d = np.loadtxt(sys.argv[1], ndmin=2)
t = np.polyfit(np.log(d[:, 0]), np.log(d[:, 1]), 1)[0]
w = np.polyfit(np.log(d[:, 0]), np.log(d[:, 1] / (d[:, 2] * d[:, 3])), 1)[0]
print("slope_time_vs_%s %.3f 1" % (sys.argv[2], t))
print("slope_time_per_iteration_vs_%s %.3f 1" % (sys.argv[2], w))
EOF
}
# Two paths a size (paths 0 and 1), 3 years, except where paths or steps are what varies.
H="2 best horizon_years=3"
scale enterprises "250 $H enterprises.count=250, 500 $H enterprises.count=500,
  1000 $H enterprises.count=1000, 2000 $H enterprises.count=2000"
# offers = 6 + 3 (2 + clouds) with the baseline's 3 closed and 3 open labs
scale offers "15 $H enterprises.count=500 clouds=1, 18 $H enterprises.count=500 clouds=2,
  24 $H enterprises.count=500 clouds=4, 36 $H enterprises.count=500 clouds=8"
S="best horizon_years=3 enterprises.count=200"
scale paths "4 4 $S, 8 8 $S, 16 16 $S, 32 32 $S"
S="2 best enterprises.count=250"
scale steps "15 $S horizon_years=1.25, 30 $S horizon_years=2.5, 60 $S horizon_years=5, 120 $S horizon_years=10"

echo "== (g) nested logit: iterations and CPU per path against enterprises.host_similarity (one thread)"
sh "$HERE/nested.sh" "$BENCH" 8 | tee "$TMP/nested"
grep '^nested_' "$TMP/nested" >> "$LINES"

if [ -n "$BENCH_O2" ]; then
  echo "== (h) -O2 against -O3: the same benchmarks built with OPT=-O2 (one thread)"
  # Paths 0-7, each the fastest of 3 runs, -O3 then -O2 back to back; then the kernel at -O2.
  # Same iterations and the same kernel price hash: the two builds give the same bits.
  "$BENCH/bench_run" "$SCENARIO" 8 best > "$TMP/o3_paths"
  "$BENCH_O2/bench_run" "$SCENARIO" 8 best > "$TMP/o2_paths"
  "$BENCH_O2/bench_kernel" > "$TMP/o2_kernel"
  o3=$(value run_cpu_seconds_per_path "$TMP/o3_paths")
  o2=$(value run_cpu_seconds_per_path "$TMP/o2_paths")
  emit o3_seconds_per_path_8_paths "$o3" s
  emit o2_seconds_per_path_8_paths "$o2" s
  emit o2_to_o3_path_time_ratio "$(calc "$o2 / $o3")" 1
  emit o3_iterations_per_path_8_paths "$(value run_iterations_per_path "$TMP/o3_paths")" 1
  emit o2_iterations_per_path_8_paths "$(value run_iterations_per_path "$TMP/o2_paths")" 1
  emit o2_kernel_evaluations_per_second "$(value kernel_share_evaluations "$TMP/o2_kernel")" 1/s
  emit o2_libmvec_exp_evaluations_per_second "$(value kernel_libmvec_exp_evaluations "$TMP/o2_kernel")" 1/s
  emit o2_kernel_to_libmvec_ratio "$(value kernel_share_to_libmvec_ratio "$TMP/o2_kernel")" 1
  emit o2_kernel_prices_hash "$(value kernel_prices_hash "$TMP/o2_kernel")" 1
fi

echo "== (i) sweep throughput: 64 scenarios x 16 paths, 3 years, 100 enterprises, 2 threads"
sh "$HERE/sweep_throughput.sh" "$MOATSIM" "$SCENARIO" | tee "$TMP/sweep"
cat "$TMP/sweep" >> "$LINES"

MOATSIM_MPI=${MOATSIM_MPI:-}
if [ -n "$MOATSIM_MPI" ] && [ -x "$MOATSIM_MPI" ] && command -v mpirun >/dev/null 2>&1; then
  echo "== (j) one scenario's paths: 2 MPI ranks x 1 thread against 1 process x 2 threads (baseline, 32 paths)"
  sh "$HERE/mpi_paths.sh" "$MOATSIM_MPI" "$SCENARIO" 32 3 | tee "$TMP/mpi"
  cat "$TMP/mpi" >> "$LINES"
else
  echo "== (j) skipped: no MPI build (make MPI=1; MOATSIM_MPI) or no mpirun"
fi

echo "== summary"
"$PYTHON" - "$LINES" <<'EOF'
import sys
v = {}
for line in open(sys.argv[1]):
    name, value, unit = line.split()
    v[name] = (value, unit)
def g(name):
    return float(v[name][0])
rows = [
    ("kernel share evaluations / s / core", v["kernel_evaluations_per_second"][0], ""),
    ("bare exp evaluations / s / core", v["exp_evaluations_per_second"][0], ""),
    ("kernel / exp, median of %d rounds" % g("kernel_to_exp_rounds"), "%.2f" % g("kernel_to_exp_ratio"), ">= 0.50"),
    ("  lowest - highest round", "%.2f - %.2f" % (g("kernel_to_exp_ratio_min"), g("kernel_to_exp_ratio_max")), ""),
    ("libmvec exp evaluations / s / core", v["libmvec_exp_evaluations_per_second"][0], ""),
    ("kernel / libmvec exp, median", "%.2f" % g("kernel_to_libmvec_ratio"), ">= 0.60"),
    ("  lowest - highest round", "%.2f - %.2f" % (g("kernel_to_libmvec_ratio_min"), g("kernel_to_libmvec_ratio_max")), ""),
    ("C paths / s / core (baseline path 0)", v["c_paths_per_second"][0], ""),
    ("C s / path, mean of baseline paths 0-7", v["c_baseline_seconds_per_path_8_paths"][0], ""),
    ("zeta iterations / step, paths 0-7", "%.1f" % g("c_baseline_iterations_per_step_8_paths"), ""),
    ("NumPy paths / s / core (same path)", v["numpy_paths_per_second"][0], ""),
    ("C / NumPy, whole paths", "%.1f" % g("c_to_numpy_path_ratio"), ">= 10"),
    ("C / NumPy, per zeta iteration", "%.1f" % g("c_to_numpy_iteration_ratio"), ""),
    ("OpenMP efficiency, 2 threads (wall)", "%.2f" % g("openmp_efficiency_2_threads"), ">= 0.90"),
    ("OpenMP efficiency, 2 threads (CPU time)", "%.2f" % g("openmp_efficiency_2_threads_cpu"), ""),
    ("  bound by unequal paths (8 paths)", "%.2f" % g("schedule_efficiency_2_threads_8_paths"), ""),
    ("HDF5 share of wall time (32-path run)", "%.3f" % g("hdf5_write_share"), "< 0.05"),
    ("HDF5 share, baseline run (projected)", "%.4f" % g("hdf5_write_share_baseline_projected"), "< 0.05"),
    ("baseline run on 2 cores (projected), s", "%.0f" % g("baseline_run_seconds_projected_2_cores"), "< 30"),
    ("peak RSS, 2 threads, MB", "%.0f" % (g("peak_rss_2_threads") / 1024), ""),
]
for sg in ["0", "0.5", "0.8", "0.9", "0.95"]:
    rows.append(("host_similarity %s: iterations/step, s/path" % sg,
                 "%s, %.3f" % (v["nested_iterations_per_step_sigma_" + sg][0],
                               g("nested_cpu_seconds_per_path_sigma_" + sg)), ""))
if "o2_seconds_per_path_8_paths" in v:
    rows += [
        ("C s / path, paths 0-7: -O3, -O2", "%.3f, %.3f" % (g("o3_seconds_per_path_8_paths"), g("o2_seconds_per_path_8_paths")), ""),
        ("  -O2 / -O3", "%.2f" % g("o2_to_o3_path_time_ratio"), "<= 1.30"),
        ("  iterations / path: -O3, -O2", "%s, %s" % (v["o3_iterations_per_path_8_paths"][0], v["o2_iterations_per_path_8_paths"][0]), "equal"),
        ("kernel / libmvec exp at -O2", "%.2f" % g("o2_kernel_to_libmvec_ratio"), ">= 0.60"),
        ("kernel price hash: -O3, -O2", "%s, %s" % (v["kernel_prices_hash"][0], v["o2_kernel_prices_hash"][0]), "equal"),
    ]
rows += [
    ("sweep 64 x 16 paths: scenarios / min (wall)", "%.0f" % g("sweep_scenarios_per_minute"), ""),
    ("  scenarios / CPU min", "%.0f" % g("sweep_scenarios_per_cpu_minute"), ""),
]
if "mpi_2_ranks_to_2_threads_ratio" in v:
    rows += [
        ("one scenario, %d paths: paths / s" % g("mpi_paths_per_scenario"), "", ""),
        ("  1 process x 2 threads", v["mpi_paths_per_second_1_process_2_threads"][0], ""),
        ("  2 MPI ranks x 1 thread", v["mpi_paths_per_second_2_ranks_1_thread"][0], ""),
        ("  2 ranks / 2 threads, median of %d rounds" % g("mpi_rounds"), "%.2f" % g("mpi_2_ranks_to_2_threads_ratio"), ">= 0.90"),
        ("    lowest - highest round", "%.2f - %.2f" % (g("mpi_2_ranks_to_2_threads_ratio_min"), g("mpi_2_ranks_to_2_threads_ratio_max")), ""),
        ("    by command wall time (mpirun start-up)", "%.2f" % g("mpi_2_ranks_to_2_threads_ratio_command"), ""),
    ]
for dim in ["enterprises", "offers", "paths", "steps"]:
    rows.append(("slope of time vs %s" % dim, "%.2f" % g("slope_time_vs_" + dim), ""))
    rows.append(("  per zeta iteration", "%.2f" % g("slope_time_per_iteration_vs_" + dim), ""))
print("%-42s %14s  %s" % ("figure", "value", "target"))
for name, value, target in rows:
    print("%-42s %14s  %s" % (name, value, target))
print("(kernel / exp: the zeta solve and the bare exp loop timed in %d interleaved rounds, the"
      " order alternating, over arrays of the same size, %d elements each; median of the"
      " per-round ratios)" % (g("kernel_to_exp_rounds"), g("kernel_array_elements")))
print("(load average at start: %s on %s cores)" % (v["load_average_1min"][0], v["cpu_cores"][0]))
EOF
