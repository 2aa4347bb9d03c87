#!/bin/sh
# slurm_efficiency.sh — parallel efficiency of docs/cluster.md's job array (2 shards of 1 core,
# then the merge) and MPI job (3 ranks of 1 core on 2 cores, --overcommit; rank 0 also writes) on the one-node test
# cluster of tests/integration/slurm.sh, against one process on one thread:
# E = T(1 process, 1 thread) / (2 cores x T(Slurm job)), T of a job from its first start to its
# last end as slurmctld records them (1 s resolution; queueing and the merge included).
# Usage (root, repository root): sh tests/bench/slurm_efficiency.sh [PATHS]   (default 1000)
NAME=slurm_eff
MOATSIM=${MOATSIM:-bin/moatsim}
MOATSIM_MPI=${MOATSIM_MPI:-build/release-mpi/moatsim}
. tests/integration/sweep_lib.inc
MOATSIM=$(cd "$(dirname "$MOATSIM")" && pwd)/$(basename "$MOATSIM")
MOATSIM_MPI=$(cd "$(dirname "$MOATSIM_MPI")" && pwd)/$(basename "$MOATSIM_MPI")
SCRIPTS=$(pwd)/scripts/slurm
COMPARE=$(pwd)/$COMPARE
. tests/integration/slurm_cluster.inc
PATHS=${1:-1000}
sed "s/^paths = 8;/paths = $PATHS;/" "$(dirname "$COMPARE")/../data/sweep6.cfg" >"$tmp/eff.cfg"
SCENARIO=$tmp/eff.cfg
seconds() { "$PYTHON" -c 'import sys, time; print(f"{time.time():.3f}")'; }
# span JOBCOMP-PATTERN: seconds from the earliest StartTime to the latest EndTime of the records.
span() {
  grep -E "$1" "$C/jobcomp.txt" | "$PYTHON" -c '
import re, sys, datetime as d
t = [(d.datetime.fromisoformat(re.search(r"StartTime=(\S+)", l)[1]), d.datetime.fromisoformat(re.search(r"EndTime=(\S+)", l)[1])) for l in sys.stdin]
print(int((max(e for _, e in t) - min(s for s, _ in t)).total_seconds()))'
}
t0=$(seconds); "$MOATSIM" run "$SCENARIO" --quiet --threads 1 -o "$tmp/ref.h5" >/dev/null; t1=$(seconds)
T1=$("$PYTHON" -c "print(round($t1 - $t0, 1))")
t0=$(seconds); "$MOATSIM_MPI" run "$SCENARIO" --quiet --threads 1 -o "$tmp/ref_mpi.h5" >/dev/null; t1=$(seconds)
T1M=$("$PYTHON" -c "print(round($t1 - $t0, 1))")
new_dir array
jid=$(sbatch_ --parsable --array=0-1 --cpus-per-task=1 "$SCRIPTS/sweep-array.sbatch")
mid=$(sbatch_ --parsable --dependency=afterok:"$jid" "$SCRIPTS/sweep-merge.sbatch")
wait_until 3600 "the array and the merge" gone "$mid"
same "array + merge" "$tmp/ref.h5" results/all.h5
TA=$(span "ArrayJobId=$jid |^JobId=$mid ")
new_dir mpi
jid=$(env OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none MOATSIM="$MOATSIM_MPI" \
  sbatch --parsable --nodes=1 --ntasks=3 --cpus-per-task=1 --overcommit "$SCRIPTS/sweep-mpi.sbatch")
wait_until 3600 "the MPI job" gone "$jid"
same "MPI job" "$tmp/ref_mpi.h5" results/all.h5
TM=$(span "^JobId=$jid ")
"$PYTHON" - "$PATHS" "$T1" "$TA" "$T1M" "$TM" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import sys
paths, t1, ta, t1m, tm, load = sys.argv[1], *map(float, sys.argv[2:6]), sys.argv[6]
print(f"sweep6, {paths} paths a scenario, 2 cores (load average {load} at the end)")
print(f"  one process, 1 thread:             {t1:7.1f} s")
print(f"  array of 2 shards x 1 core + merge: {ta:7.0f} s   efficiency {t1 / (2 * ta):.2f}")
print(f"  MPI build, 1 process, 1 thread:    {t1m:7.1f} s")
print(f"  MPI job, 3 ranks (2 workers):       {tm:7.0f} s   efficiency {t1m / (2 * tm):.2f}")
PY
finish
