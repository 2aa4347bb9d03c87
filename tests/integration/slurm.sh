#!/bin/sh
# slurm.sh — docs/cluster.md's Slurm scripts (scripts/slurm/*.sbatch), submitted as the doc shows
# them to a one-node Slurm cluster this test starts on the machine (munged, slurmctld and slurmd
# as root, a generated slurm.conf and munge key in a temporary directory, daemons stopped by PID
# on exit): a job array over a sweep and the merge job (afterok), a failing array whose merge is
# cancelled, the MPI job (srun --mpi=pmix), a preempted task (scancel --signal=TERM) that is
# requeued and resumes, the restart cap, and one scenario longer than its time limit that
# completes across restarts. Every result equals a plain run bit for bit (compare_h5.py).
# Jobs are stopped at known points by the pause hook MOATSIM_TEST_PAUSE_AFTER_BLOCK (no sleeps
# racing the computation); waits on Slurm's job states are polled and bounded.
# Skips (one line saying why) when not root or when the daemons cannot start.
# Usage (repository root): MOATSIM=bin/moatsim MOATSIM_MPI=build/release-mpi/moatsim \
#   PYTHON=/usr/bin/python3 sh tests/integration/slurm.sh

NAME=slurm
. tests/integration/sweep_lib.inc
MOATSIM=$(cd "$(dirname "$MOATSIM")" && pwd)/$(basename "$MOATSIM") # jobs run in other directories
[ -n "${MOATSIM_MPI:-}" ] && [ -x "$MOATSIM_MPI" ] &&
  MOATSIM_MPI=$(cd "$(dirname "$MOATSIM_MPI")" && pwd)/$(basename "$MOATSIM_MPI")
SCRIPTS=$(pwd)/scripts/slurm
COMPARE=$(pwd)/$COMPARE
CFG=$(pwd)/$CFG

. tests/integration/slurm_cluster.inc

# ---- 1. job array over a sweep, then the merge (afterok) --------------------------------------
check "plain run of the sweep" plain "$CFG" -o "$tmp/ref.h5"
new_dir array
SCENARIO=$CFG
jid=$(sbatch_ --parsable --array=0-2 --cpus-per-task=1 "$SCRIPTS/sweep-array.sbatch")
submitted "$jid"
mid=$(sbatch_ --parsable --dependency=afterok:"$jid" "$SCRIPTS/sweep-merge.sbatch")
submitted "$mid"
wait_until 600 "the array $jid and the merge $mid" gone "$mid"
for t in 0 1 2; do expect_state "array task $t" COMPLETED "$jid" $t; done
expect_state "merge job" COMPLETED "$mid"
same "array + merge equal the plain run" "$tmp/ref.h5" results/all.h5
grep -q "^wrote results/part-1.h5 (shard 1/3: scenarios k mod 3 = 1, 2 of the sweep's 6): 2 of 2 scenarios written by this run; the file holds 2 of 2;" \
  logs/"${jid}"_1.out && ok || bad "array task 1: the final line does not say which shard and what the file holds"
grep -q "scenario 4 done: .*; this run 2 of 2; the file holds 2 of 2 (shard 1/3" logs/"${jid}"_1.out && ok ||
  bad "array task 1: the scenario line does not say the shard"

# ---- 2. a failing task: the merge is cancelled (--kill-on-invalid-dep), not left pending -------
new_dir failing
jid=$(env MOATSIM_TEST_FAIL=0 sbatch --parsable --array=0-1 --cpus-per-task=1 "$SCRIPTS/sweep-array.sbatch" 2>"$tmp/sbatch.err")
submitted "$jid"
mid=$(sbatch_ --parsable --dependency=afterok:"$jid" "$SCRIPTS/sweep-merge.sbatch")
submitted "$mid"
wait_until 600 "the failing array $jid and the merge $mid" gone "$mid"
expect_state "failing task" FAILED "$jid" 0
expect_state "merge after a failed task" CANCELLED "$mid"
[ -e results/all.h5 ] && bad "a merged file appeared after a failed task" || ok

# ---- 3. the MPI job: srun --mpi=pmix, 3 ranks on the node --------------------------------------
if [ -z "${MOATSIM_MPI:-}" ] || [ ! -x "$MOATSIM_MPI" ]; then
  echo "skip: the MPI job: set MOATSIM_MPI to the MPI build (make MPI=1; make test does)"
else
  "$MOATSIM_MPI" run "$CFG" --quiet --threads 1 -o "$tmp/ref_mpi.h5" >/dev/null 2>"$tmp/err" ||
    bad "plain run of the MPI build"
  new_dir mpi
  # Three ranks (each computes; rank 0 also writes) on a 2-core node: --overcommit.
  jid=$(env OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none MOATSIM="$MOATSIM_MPI" \
    sbatch --parsable --nodes=1 --ntasks=3 --cpus-per-task=1 --overcommit "$SCRIPTS/sweep-mpi.sbatch" 2>"$tmp/sbatch.err")
  submitted "$jid"
  wait_until 600 "the MPI job $jid" gone "$jid"
  expect_state "MPI job" COMPLETED "$jid"
  same "MPI job equals the plain run" "$tmp/ref_mpi.h5" results/all.h5
  grep -qF "on 3 MPI ranks" logs/"$jid".out 2>/dev/null && ok || bad "MPI job: the log does not say 3 ranks"
fi

# ---- 4 and 5 stop jobs at known points: they need block checkpoints and the pause hook ----------
if ! "$MOATSIM" run --help 2>/dev/null | grep -q -- "--checkpoint-paths"; then
  echo "skip: preemption, restart cap and time limit: this build has no block checkpoints (--checkpoint-paths) and no MOATSIM_TEST_PAUSE_AFTER_BLOCK hook, which these cases need to stop a job at a known point"
  finish
  exit $?
fi

# paused_then MARKER: wait for the pause hook's marker (a block is stored, the run waits for a
# signal), then remove it for the next restart.
paused() {
  wait_until 600 "the run to pause at its marker $1" test -e "$1" || return 1
  rm -f "$1"
}
restarted() { scontrol show job "$1" 2>/dev/null | grep -q "Restarts=$2 .*" && squeue -h -j "$1" -o %T | grep -qx RUNNING; }

# ---- 4. preemption: scancel --signal=TERM --batch, requeued and resumed; the restart cap --------
sed 's/^paths = 8;/paths = 3;/' "$CFG" >"$tmp/sweep3.cfg"
check "plain run of sweep6 with 3 paths" plain "$tmp/sweep3.cfg" -o "$tmp/ref3.h5"
new_dir preempt
SCENARIO=$tmp/sweep3.cfg
M=$W/paused
# Each process pauses after its 2nd stored block (one block = one scenario's 3 paths here).
jid=$(env MOATSIM_TEST_PAUSE_AFTER_BLOCK=2 MOATSIM_TEST_PAUSE_MARKER=$M MAX_RESTARTS=1 MOATSIM_PROGRESS_INTERVAL=0 \
  sbatch --parsable --array=0 --cpus-per-task=1 "$SCRIPTS/sweep-array.sbatch" 2>"$tmp/sbatch.err")
submitted "$jid"
if paused "$M"; then
  scancel --signal=TERM --batch "${jid}_0"
  wait_until 600 "task ${jid}_0 to be requeued and restarted" restarted "${jid}_0" 1 &&
    paused "$M" && scancel --signal=TERM --batch "${jid}_0" # second stop: the cap (1) is reached
  wait_until 600 "task ${jid}_0 to end at its restart cap" gone "${jid}_0"
fi
log=logs/${jid}_0.out
[ "$(grep -c "interrupted by SIGTERM" "$log")" -eq 2 ] && ok || bad "preemption: two SIGTERM stops expected in $log"
grep -q "sweep-array: shard 0/1, restart 1" "$log" && ok || bad "preemption: no restart in $log"
grep -qF "restart cap MAX_RESTARTS=1 reached: not requeued" "$log" && ok || bad "preemption: restart cap not reported"
expect_state "task stopped at its restart cap" FAILED "$jid" 0
# The operator resubmits, as the log says: the task resumes and completes.
jid2=$(sbatch_ --parsable --array=0 --cpus-per-task=1 "$SCRIPTS/sweep-array.sbatch")
submitted "$jid2"
wait_until 600 "the resubmitted task $jid2" gone "$jid2"
expect_state "resubmitted task" COMPLETED "$jid2" 0
grep -qE "^wrote results/part-0.h5: [1-5] of 6 scenarios written by this run; the file holds 6 of 6;" \
  logs/"${jid2}"_0.out && ok || bad "resumed task: the final line does not say what this run wrote"
same "preempted and resumed equals the plain run" "$tmp/ref3.h5" results/part-0.h5
# The heartbeat (MOATSIM_PROGRESS_INTERVAL=0: a line after every path but a scenario's last).
grep -qE "^moatsim run: progress: [0-9]+ of [0-9]+ paths of this run \(scenario [0-5]: [12] of 3\), [0-9.e+]+ paths/s, elapsed [0-9]+:[0-5][0-9]:[0-5][0-9], ETA [0-9]+:[0-5][0-9]:[0-5][0-9]$" \
  "$log" && ok || bad "no heartbeat line in the batch log $log"

# ---- 5. one scenario longer than its time limit: completes across restarts ---------------------
# 32 paths in two blocks of 16 (1 thread). Each start pauses after its first block, as if the
# scenario took longer than the limit; Slurm's --signal=B:TERM@50 of a 1-minute limit stops it
# (slurmctld checks limits every 30 s), the script requeues it, the next start resumes from the
# stored block and runs the second, which completes the scenario (its file is stored at once), so
# the run that writes the result may have computed 0 or 1 of it.
new_dir timelimit
sed -e '/^sweep = {/,$d' -e 's/^paths = 8;/paths = 32;/' "$CFG" >one.cfg
check "plain run of the long scenario" plain one.cfg -o "$tmp/ref_one.h5"
SCENARIO=one.cfg
M=$W/paused
jid=$(env MOATSIM_TEST_PAUSE_AFTER_BLOCK=1 MOATSIM_TEST_PAUSE_MARKER=$M \
  sbatch --parsable --array=0 --cpus-per-task=1 --time=1 --signal=B:TERM@50 "$SCRIPTS/sweep-array.sbatch" 2>"$tmp/sbatch.err")
submitted "$jid"
stops=0
while [ $stops -lt 4 ] && ! gone "${jid}_0"; do
  wait_until 600 "task ${jid}_0 to pause or finish" sh -c "test -e '$M' || test -z \"\$(squeue -h -j ${jid}_0)\"" || break
  rm -f "$M"
  stops=$((stops + 1))
  wait_until 600 "task ${jid}_0 to be stopped by its time limit" sh -c "! squeue -h -j ${jid}_0 -o %T | grep -qx RUNNING" || break
done
wait_until 600 "task ${jid}_0 to complete" gone "${jid}_0"
log=logs/${jid}_0.out
expect_state "long scenario" COMPLETED "$jid" 0
n=$(grep -c "interrupted by SIGTERM" "$log")
[ "$n" -ge 1 ] && grep -q "^moatsim run: resuming " "$log" && ok ||
  bad "time limit: no stop by the time limit and resume in $log"
same "long scenario across restarts equals the plain run" "$tmp/ref_one.h5" results/part-0.h5
grep -qE "^wrote results/part-0.h5: [01] of 1 scenario written by this run; the file holds 1 of 1;" "$log" && ok ||
  bad "time limit: the last run's final line"
echo "  time limit: the scenario finished after $n stops (restart $(sed -n 's/^sweep-array: .*restart \([0-9]*\),.*/\1/p' "$log" | tail -n 1))"

cd "$tmp/.." || exit 1
finish
