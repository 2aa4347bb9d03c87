#!/bin/sh
# kill.sh — kill -9 at every step of every commit of a run (before and in the middle of writing a
# checkpoint file, before its rename, after it), then `--resume`: every resumed file's datasets
# equal an uninterrupted run's, bit for bit. Also a kill during the resume itself, and a full
# file system (a commit failing with ENOSPC) that keeps every finished block for --resume.
# The kills come from the test hook MOATSIM_TEST_KILL_AT=N.M (sim/output/durable.c): deterministic,
# no sleeps. Usage: MOATSIM=bin/moatsim PYTHON=/usr/bin/python3 sh tests/integration/kill.sh

NAME=kill
. tests/integration/sweep_lib.inc
# Shard 0 of 2 of sweep6 (scenarios 0, 2, 4), 6 paths in blocks of 2: per scenario 3 block files
# and 1 scenario file; with the skeleton and the results file 1 + 3 x (3 + 1) + 1 = 14 commits.
RUN="$MOATSIM run $CFG --quiet --threads 1 --paths 6 --checkpoint-paths 2 --shard 0/2"
EXPECT_COMMITS=14

MOATSIM_TEST_COMMITS="$tmp/commits" $RUN -o "$tmp/ref.h5" >/dev/null 2>"$tmp/err" || bad "reference run"
commits=$(cat "$tmp/commits")
[ "$commits" -eq $EXPECT_COMMITS ] && ok || bad "the run made $commits commits, expected $EXPECT_COMMITS"
[ -e "$tmp/ref.h5.partial.d" ] && bad "checkpoint left after a finished run" || ok

# resume_to NAME: --resume until the file is there (no hook): exit 0, no checkpoint left.
resume_to() {
  if $RUN --resume -o "$tmp/$1.h5" >"$tmp/out" 2>"$tmp/err"; then ok; else bad "$1: --resume failed"; fi
  [ -e "$tmp/$1.h5.partial.d" ] && bad "$1: checkpoint left after resume" || ok
  files="$files $tmp/$1.h5"
}

files=""
points=0
n=1
while [ $n -le "$commits" ]; do
  for m in 1 2 3; do
    MOATSIM_TEST_KILL_AT=$n.$m $RUN -o "$tmp/k$n.$m.h5" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ $rc -eq 137 ] && ok || bad "kill at $n.$m: exit $rc, expected 137 (SIGKILL)"
    points=$((points + 1))
    resume_to "k$n.$m"
  done
  n=$((n + 1))
done
# Killed again while resuming (at the resumed run's second commit, mid-write), then resumed.
for n in 3 7 11; do
  MOATSIM_TEST_KILL_AT=$n.2 $RUN -o "$tmp/d$n.h5" >/dev/null 2>&1
  MOATSIM_TEST_KILL_AT=2.1 $RUN --resume -o "$tmp/d$n.h5" >/dev/null 2>&1
  [ $? -eq 137 ] && ok || bad "second kill at $n: the resume was not killed"
  points=$((points + 1))
  resume_to "d$n"
done
echo "  $points kill points"

# A full file system at commit 6 (the second scenario's first block): exit 1 naming the cause;
# the checkpoint keeps the skeleton, scenario 0's three blocks-turned-scenario-file and nothing
# else; --resume (with space again) completes it.
MOATSIM_TEST_ENOSPC_AT=6 $RUN -o "$tmp/full.h5" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && grep -qF "No space left on device" "$tmp/err" && ok || bad "ENOSPC: exit $rc"
grep -qF -- "--resume" "$tmp/err" && ok || bad "ENOSPC: no resume hint"
kept=$(cd "$tmp/full.h5.partial.d" && ls | tr '\n' ' ')
[ "$kept" = "lock run.h5 s0.h5 " ] && ok || bad "ENOSPC: the checkpoint holds '$kept'"
resume_to full

# A real full file system (a tmpfs of 1400 KiB, when this user may mount one): the skeleton
# (~0.5 MB), scenario 0's blocks and file (~0.7 MB) fit, scenario 2's file does not. The run exits
# 1 with the system's message and keeps the skeleton, scenario 0 and scenario 2's blocks; with
# room again, --resume completes it.
mkdir "$tmp/disk"
if mount -t tmpfs -o size=1400k tmpfs "$tmp/disk" 2>/dev/null; then
  $RUN -o "$tmp/disk/full.h5" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  [ $rc -eq 1 ] && grep -qF "No space left on device" "$tmp/err" && ok || bad "full tmpfs: exit $rc"
  kept=$(cd "$tmp/disk/full.h5.partial.d" && ls | tr '\n' ' ')
  [ "$kept" = "lock run.h5 s0.h5 s2.p0-2.h5 s2.p2-4.h5 s2.p4-6.h5 " ] && ok || bad "full tmpfs: the checkpoint holds '$kept'"
  mount -o remount,size=64m "$tmp/disk"
  if $RUN --resume -o "$tmp/disk/full.h5" >"$tmp/out" 2>"$tmp/err"; then ok; else bad "full tmpfs: --resume failed"; fi
  cp "$tmp/disk/full.h5" "$tmp/tmpfs.h5" && files="$files $tmp/tmpfs.h5"
  umount "$tmp/disk"
else
  echo "  skip: cannot mount a tmpfs (the ENOSPC hook above still ran)"
fi

# Every resumed file equals the uninterrupted run, dataset by dataset, bit for bit.
"$PYTHON" - "$tmp/ref.h5" $files >"$tmp/cmp" 2>&1 <<'PY' && ok || { bad "resumed files differ"; cat "$tmp/cmp"; }
import sys
sys.path.insert(0, "tests/integration")
import compare_h5
bad = [f for f in sys.argv[2:] if compare_h5.main(sys.argv[1], f) != 0]
print(f"{len(sys.argv) - 2 - len(bad)} of {len(sys.argv) - 2} resumed files equal the reference")
sys.exit(1 if bad else 0)
PY
tail -1 "$tmp/cmp"

finish
