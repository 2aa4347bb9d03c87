#!/bin/sh
# mpi.sh — `mpirun -n R moatsim run`: rank 0 hands out units (a block of paths of a scenario),
# computes some itself and writes; the datasets equal a one-process run of the same binary bit for
# bit (a sweep and a single scenario over 2 and 3 ranks, 1 and 2 threads, kept paths, a shard
# merged with a one-process shard); a failing rank names the scenario and path and the job exits
# 1 leaving no file; SIGTERM (to mpirun, or to rank 0 alone, which then stops the other ranks)
# keeps the checkpoint FILE.partial.d, which --resume under MPI completes.
# Needs the MPI build: MOATSIM_MPI=build/release-mpi/moatsim (make test sets it after
# `make MPI=1`); skipped without it or without mpirun.
# Usage: MOATSIM_MPI=build/release-mpi/moatsim PYTHON=/usr/bin/python3 sh tests/integration/mpi.sh

NAME=mpi
. tests/integration/sweep_lib.inc
if [ -z "$MOATSIM_MPI" ] || [ ! -x "$MOATSIM_MPI" ] || ! command -v mpirun >/dev/null 2>&1; then
  echo "skip: set MOATSIM_MPI to the MPI build (make MPI=1) and install mpirun to run this test"
  exit 0
fi
# Keep Open MPI on this machine: loopback and shared memory only, no remote launcher; root is
# allowed in containers. More ranks than cores is fine for a test (--oversubscribe).
export OMPI_MCA_btl=self,vader OMPI_MCA_plm=isolated OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN="mpirun --oversubscribe"
RUN="run $CFG --quiet --threads 1"

# The reference: the same binary in one process (MPI singleton: the serial path, same build).
check "one-process run" "$MOATSIM_MPI" $RUN -o "$tmp/ref.h5"
check "one-process run, paths kept" "$MOATSIM_MPI" $RUN --keep-paths -o "$tmp/ref_paths.h5"
for n in 2 3; do
  check "mpirun -n $n" $MPIRUN -n $n "$MOATSIM_MPI" $RUN -o "$tmp/mpi$n.h5"
  grep -qF "on $n MPI ranks" "$tmp/out" && ok || bad "mpirun -n $n: final line lacks the ranks"
  check "mpirun -n $n equals one process" "$PYTHON" $COMPARE "$tmp/ref.h5" "$tmp/mpi$n.h5"
done
check "mpirun -n 3, paths kept" $MPIRUN -n 3 "$MOATSIM_MPI" $RUN --keep-paths -o "$tmp/mpi_paths.h5"
check "paths kept equal one process" "$PYTHON" $COMPARE "$tmp/ref_paths.h5" "$tmp/mpi_paths.h5"

# One scenario: its paths are split among the ranks (units of an eighth of a rank's share).
ONE="run tests/data/one.cfg --quiet"
check "one scenario, one process" "$MOATSIM_MPI" $ONE --threads 1 --keep-paths -o "$tmp/one_ref.h5"
for n in 2 3; do
  check "one scenario on $n ranks" $MPIRUN -n $n "$MOATSIM_MPI" $ONE --threads 1 --keep-paths -o "$tmp/one$n.h5"
  check "one scenario on $n ranks equals one process" "$PYTHON" $COMPARE "$tmp/one_ref.h5" "$tmp/one$n.h5"
done
check "one scenario on 2 ranks x 2 threads" $MPIRUN --bind-to none -n 2 "$MOATSIM_MPI" $ONE --threads 2 --keep-paths \
  -o "$tmp/one2t.h5"
check "2 ranks x 2 threads equal one process x 1 thread" "$PYTHON" $COMPARE "$tmp/one_ref.h5" "$tmp/one2t.h5"

# A shard run under MPI merges with a shard run in one process.
check "MPI shard 1/2" $MPIRUN -n 3 "$MOATSIM_MPI" $RUN --shard 1/2 -o "$tmp/s1.h5"
check "one-process shard 0/2" "$MOATSIM_MPI" $RUN --shard 0/2 -o "$tmp/s0.h5"
check "merge" "$MOATSIM_MPI" merge "$tmp/s0.h5" "$tmp/s1.h5" -o "$tmp/merged.h5"
check "merged equals one process" "$PYTHON" $COMPARE "$tmp/ref.h5" "$tmp/merged.h5"

# A failing rank: scenario 3 fails on whichever rank runs its path 0 (MOATSIM_TEST_FAIL, a test hook).
MOATSIM_TEST_FAIL=3 $MPIRUN -n 3 "$MOATSIM_MPI" $RUN -o "$tmp/fail.h5" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && ok || bad "failing rank: exit $rc, expected 1"
grep -qE "moatsim run: rank [0-2]: scenario 3, path 0: the model failed" "$tmp/err" && ok ||
  bad "failing rank: the message does not name the rank, scenario and path"
[ -e "$tmp/fail.h5" ] || [ -e "$tmp/fail.h5.partial.d" ] && bad "failing rank: a results file was left" || ok

# Bad input is reported once (by rank 0) with exit 2 on every rank.
expect "bad scenario under MPI" 2 "did you mean" $MPIRUN -n 3 "$MOATSIM_MPI" $RUN --set quality_gap.long_rn=0.1 -o "$tmp/bad.h5"
[ "$(grep -c 'did you mean' "$tmp/err")" -eq 1 ] && ok || bad "bad scenario reported more than once"

# SIGTERM to mpirun (as Slurm does at a time limit): rank 0 pauses after committing its first
# block (the test hook MOATSIM_TEST_PAUSE_AFTER_BLOCK; no sleep races the run), then mpirun gets
# SIGTERM and passes it on to every rank. Every rank stops at its next path boundary, rank 0
# commits what the workers finished, the checkpoint is kept with a resume hint, and --resume
# under MPI completes it equal to an uninterrupted run. odls_base_sigkill_timeout gives the
# ranks time to stop before mpirun's SIGKILL on a loaded machine (docs/cluster.md).
SLOW="run $CFG --threads 1 --paths 40 --checkpoint-paths 10"
"$MOATSIM_MPI" $SLOW --quiet -o "$tmp/slow_ref.h5" >/dev/null 2>&1 || bad "slow reference"
MOATSIM_TEST_PAUSE_AFTER_BLOCK=1 MOATSIM_TEST_PAUSE_MARKER="$tmp/paused" \
  $MPIRUN --mca odls_base_sigkill_timeout 10 -x MOATSIM_TEST_PAUSE_AFTER_BLOCK -x MOATSIM_TEST_PAUSE_MARKER \
  -n 3 "$MOATSIM_MPI" $SLOW -o "$tmp/slow.h5" >"$tmp/out" 2>"$tmp/err" &
pid=$!
# The process writes the marker at the hook and then blocks until signalled; if the hook is
# broken it runs to its end and exits: either way the loop ends, whatever the machine's speed.
while [ ! -e "$tmp/paused" ] && kill -0 $pid 2>/dev/null; do
  sleep 0.05
done
[ -e "$tmp/paused" ] && ok || bad "SIGTERM: rank 0 did not pause after its first block"
kill -TERM $pid
wait $pid 2>/dev/null
rc=$?
[ $rc -ne 0 ] && ok || bad "SIGTERM: mpirun exited 0"
[ -e "$tmp/slow.h5.partial.d/run.h5" ] && [ ! -e "$tmp/slow.h5" ] && ok || bad "SIGTERM: no checkpoint kept"
ls "$tmp/slow.h5.partial.d" | grep -qE "^s[0-9]+\.p[0-9]+-[0-9]+\.h5$" && ok || bad "SIGTERM: no block in the checkpoint"
grep -qF "interrupted by SIGTERM" "$tmp/err" && grep -qF -- "--resume" "$tmp/err" && ok || bad "SIGTERM: no resume hint"
check "resume under MPI" $MPIRUN -n 3 "$MOATSIM_MPI" $SLOW --quiet --resume -o "$tmp/slow.h5"
check "resumed equals uninterrupted" "$PYTHON" $COMPARE "$tmp/slow_ref.h5" "$tmp/slow.h5"


# SIGTERM to rank 0 alone (kill -TERM <rank 0's pid>): rank 0 tells the other ranks, which stop at
# their next path boundary though they received no signal. Deterministic: every worker gets a
# unit of 4 paths (96 paths, 3 ranks) before rank 0 runs one; each worker, after its first path,
# waits for rank 0's stop message (test hook MOATSIM_TEST_WORKER_WAIT_STOP); rank 0
# pauses after committing its own unit (MOATSIM_TEST_PAUSE_AFTER_BLOCK, its pid in the marker).
# So the checkpoint holds rank 0's block of 4 paths and one block of exactly 1 path from each
# worker; without the message a worker would finish its unit (a block of 4) after a minute.
STOP="run tests/data/one.cfg --threads 1 --paths 96 --checkpoint-paths 4"
"$MOATSIM_MPI" $STOP --quiet -o "$tmp/stop_ref.h5" >/dev/null 2>&1 || bad "stop reference"
MOATSIM_TEST_PAUSE_AFTER_BLOCK=1 MOATSIM_TEST_PAUSE_MARKER="$tmp/paused0" MOATSIM_TEST_WORKER_WAIT_STOP=1 \
  $MPIRUN -x MOATSIM_TEST_PAUSE_AFTER_BLOCK -x MOATSIM_TEST_PAUSE_MARKER -x MOATSIM_TEST_WORKER_WAIT_STOP \
  -n 3 "$MOATSIM_MPI" $STOP -o "$tmp/stop.h5" >"$tmp/out" 2>"$tmp/err" &
pid=$!
while [ ! -s "$tmp/paused0" ] && kill -0 $pid 2>/dev/null; do
  sleep 0.05
done
[ -s "$tmp/paused0" ] && ok || bad "rank 0 SIGTERM: rank 0 did not pause after its first block"
kill -TERM "$(cat "$tmp/paused0")"
wait $pid 2>/dev/null
rc=$?
[ $rc -ne 0 ] && ok || bad "rank 0 SIGTERM: mpirun exited 0"
grep -qF "interrupted by SIGTERM" "$tmp/err" && ok || bad "rank 0 SIGTERM: no interruption message"
sizes=$(ls "$tmp/stop.h5.partial.d" | sed -n 's/^s0\.p\([0-9]*\)-\([0-9]*\)\.h5$/\1 \2/p' |
  while read -r a b; do echo $((b - a)); done | sort -n | tr '\n' ' ')
[ "$sizes" = "1 1 4 " ] && ok || bad "rank 0 SIGTERM: blocks of $sizes paths, expected 1 1 4 (rank 0's unit, one path per worker)"
check "rank 0 SIGTERM: resume under MPI" $MPIRUN -n 3 "$MOATSIM_MPI" $STOP --quiet --resume -o "$tmp/stop.h5"
check "rank 0 SIGTERM: resumed equals uninterrupted" "$PYTHON" $COMPARE "$tmp/stop_ref.h5" "$tmp/stop.h5"

finish
