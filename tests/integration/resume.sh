#!/bin/sh
# resume.sh — a run stopped by SIGINT / SIGTERM (exit 130 / 143) or kill -9 keeps its checkpoint
# FILE.partial.d with every finished block and a message on how to resume; `--resume` finishes a
# file whose datasets equal an uninterrupted run's, also from a block cut in the middle of a
# scenario; damaged checkpoint files are detected (Fletcher-32, object header checksums) and their
# work redone, a damaged skeleton (also its strings: strings_digest) refused; a second
# run on the same output is refused while the first holds the lock and removes nothing; foreign
# or damaged checkpoints are refused (exit 2), an edited @include'd file included.
# The run is stopped at a known point by the test hook MOATSIM_TEST_PAUSE_AFTER_BLOCK=n (it
# writes a marker and waits for a signal): no sleeps racing the computation.
# Usage: MOATSIM=bin/moatsim PYTHON=/usr/bin/python3 sh tests/integration/resume.sh   (repo root)

NAME=resume
. tests/integration/sweep_lib.inc
# 40 paths a scenario in blocks of 20: scenario k's blocks are the (2k+1)-th and (2k+2)-th.
RUN="$MOATSIM run $CFG --threads 1 --paths 40 --checkpoint-paths 20"

$RUN --quiet -o "$tmp/ref.h5" >/dev/null 2>"$tmp/err" || bad "reference run"

# start_paused NAME N [ARGS...]: start a run in the background that pauses after its N-th block;
# returns once it is paused ($pid is its process).
start_paused() {
  name=$1 n=$2
  shift 2
  rm -f "$tmp/$name.paused"
  MOATSIM_TEST_PAUSE_AFTER_BLOCK=$n MOATSIM_TEST_PAUSE_MARKER="$tmp/$name.paused" \
    $RUN -o "$tmp/$name.h5" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pid=$!
  # the run writes the marker and blocks until signalled, or (a broken hook) runs to its end
  while [ ! -e "$tmp/$name.paused" ] && kill -0 $pid 2>/dev/null; do
    sleep 0.05
  done
  [ -e "$tmp/$name.paused" ] || bad "$name: the run did not pause after block $n"
}

# scenario_files NAME: finished scenario files in the checkpoint.
scenario_files() { ls "$tmp/$1.h5.partial.d" | grep -cE '^s[0-9]+\.h5$'; }

# interrupt NAME SIGNAL BLOCK CODE: pause after BLOCK blocks, send SIGNAL, expect exit CODE
# (137 for KILL), the checkpoint kept, then --resume equal to the reference.
interrupt() {
  name=$1 sig=$2 block=$3 code=$4
  start_paused "$name" "$block"
  kill -"$sig" $pid
  wait $pid 2>/dev/null
  rc=$?
  cp "$tmp/$name.err" "$tmp/err"
  [ $rc -eq "$code" ] && ok || bad "$name: exit $rc, expected $code"
  if [ "$sig" != KILL ]; then
    grep -qF -- "--resume" "$tmp/err" && grep -qF "$name.h5.partial.d" "$tmp/err" && ok || bad "$name: no resume hint"
  fi
  [ -e "$tmp/$name.h5" ] && bad "$name: the final file appeared"
  [ -e "$tmp/$name.h5.partial.d/run.h5" ] && ok || bad "$name: no checkpoint kept"
  n=$(scenario_files "$name")
  echo "  $name: stopped by SIG$sig after block $block with $n of 6 scenarios done"
  if $RUN --resume --quiet -o "$tmp/$name.h5" >"$tmp/out" 2>"$tmp/err"; then ok; else bad "$name: --resume failed"; fi
  [ -e "$tmp/$name.h5.partial.d" ] && bad "$name: checkpoint left after resume"
  grep -qF "$((6 - n)) of 6 scenario" "$tmp/out" && ok || bad "$name: resume did not run the $((6 - n)) missing scenarios"
  "$PYTHON" $COMPARE "$tmp/ref.h5" "$tmp/$name.h5" >"$tmp/cmp" 2>&1 && ok || {
    bad "$name: resumed file differs"
    cat "$tmp/cmp"
  }
}

# The signal arrives while the run waits after block N; the run finishes the scenario's paths it
# had started (none here: it is between blocks) and stops before the next block.
interrupt int1 INT 1 130   # in the middle of scenario 0: its first block is reused
interrupt term4 TERM 4 143 # scenario 1's last block committed, its scenario file too
interrupt kill1 KILL 1 137
interrupt kill7 KILL 7 137
interrupt term11 TERM 11 143

# A second resume of a finished run: nothing to resume.
$RUN --resume -o "$tmp/int1.h5" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] && grep -qF "nothing to resume" "$tmp/err" && ok || bad "resume without a checkpoint"

# While a run holds the checkpoint, a second run on the same output (with or without --force or
# --resume) and a merge into it are refused, naming the running one; nothing of it is removed.
start_paused busy 3
for extra in "" --force --resume; do
  $RUN -o "$tmp/busy.h5" $extra >"$tmp/out" 2>"$tmp/err"
  rc=$?
  [ $rc -eq 2 ] && grep -qF "another moatsim run (pid $pid) is writing" "$tmp/err" && ok ||
    bad "second run $extra: exit $rc"
done
"$MOATSIM" merge "$tmp/ref.h5" -o "$tmp/busy.h5" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] && grep -qF "busy.h5.partial.d" "$tmp/err" && ok || bad "merge into a running output"
ls "$tmp/busy.h5.partial.d" | grep -qE '^s0\.h5$' && ok || bad "a refused run removed the running one's files"
kill -TERM $pid
wait $pid
[ $? -eq 143 ] && ok || bad "the paused run did not stop cleanly"
check "the interrupted run resumes" $RUN --resume --quiet -o "$tmp/busy.h5"
check "... equal to the reference" "$PYTHON" $COMPARE "$tmp/ref.h5" "$tmp/busy.h5"

# A leftover checkpoint is not overwritten silently.
start_paused leftover 3
kill -KILL $pid
wait $pid 2>/dev/null
$RUN -o "$tmp/leftover.h5" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] && grep -qF "continue it with --resume, or pass --force" "$tmp/err" && ok || bad "leftover checkpoint"

# Damaged checkpoint files: bytes inverted inside a data chunk of scenario 0's file (Fletcher-32)
# and of scenario 2's first block, and inside scenario 1's compact market/scenario_done (its value
# lives in its object header, whose checksum covers it). --resume names each file and what is
# damaged, sets it aside, redoes that work, and the result still equals the reference.
start_paused left 5 # scenarios 0 and 1 done, scenario 2's first block
kill -KILL $pid
wait $pid 2>/dev/null
cp -r "$tmp/left.h5.partial.d" "$tmp/keep.d"
damage() { "$PYTHON" tests/integration/damage_h5.py "$@" >/dev/null || bad "damage_h5.py $*"; }
damage "$tmp/left.h5.partial.d/s0.h5" market/compute_spend_mean 64
damage "$tmp/left.h5.partial.d/s1.h5" market/scenario_done
damage "$tmp/left.h5.partial.d/s2.p0-20.h5" paths 64
$RUN --resume --quiet -o "$tmp/left.h5" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && ok || bad "resume over damaged files: exit $rc"
grep -qF "s0.h5' is damaged (dataset 'market/compute_spend_mean'" "$tmp/err" && grep -qF "Fletcher32" "$tmp/err" &&
  ok || bad "damaged scenario file not named"
grep -qF "s1.h5' is damaged (object 'market/scenario_done': incorrect metadata checksum" "$tmp/err" &&
  ok || bad "damaged compact dataset not named"
grep -qF "s2.p0-20.h5' is damaged (dataset 'paths'" "$tmp/err" && ok || bad "damaged block not named"
check "resumed over damaged files equals the reference" "$PYTHON" $COMPARE "$tmp/ref.h5" "$tmp/left.h5"

# Checkpoints of other runs, or damaged skeletons, are refused with exit 2 and a message.
expect_refusal() { # NAME NEEDLE ARGS...
  name=$1 needle=$2
  shift 2
  rm -rf "$tmp/left.h5.partial.d" "$tmp/left.h5"
  cp -r "$tmp/keep.d" "$tmp/left.h5.partial.d"
  "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  [ $rc -eq 2 ] && grep -qF -- "$needle" "$tmp/err" && ok || bad "$name: exit $rc"
  [ -e "$tmp/left.h5" ] && bad "$name: a results file appeared"
  [ -e "$tmp/left.h5.partial.d/s0.h5" ] && ok || bad "$name: the checkpoint was changed"
}
expect_refusal "other seed" "has seed" $RUN --seed 99 --resume -o "$tmp/left.h5"
expect_refusal "other scenario text" "different scenario texts" $RUN --set quality_gap.volatility=0.3 --resume -o "$tmp/left.h5"
expect_refusal "other shard" "is shard" $RUN --shard 1/2 --resume -o "$tmp/left.h5"
# a /params value of the skeleton (compact: in its checksummed object header) damaged
cp "$tmp/keep.d/run.h5" "$tmp/run.h5.good"
damage "$tmp/keep.d/run.h5" params/quality_gap_long_run 8
expect_refusal "damaged skeleton" "run.h5' is damaged: object 'params/quality_gap_long_run': incorrect metadata checksum" \
  $RUN --resume -o "$tmp/left.h5"
mv "$tmp/run.h5.good" "$tmp/keep.d/run.h5"
# a character of a lab name or of the scenario text in the skeleton (HDF5's global heap, which has
# no checksum: covered by the file's strings_digest). The scenario files and blocks hold no
# variable-length strings.
for ds in labs/lab scenario_text; do
  cp "$tmp/keep.d/run.h5" "$tmp/run.h5.good"
  damage "$tmp/keep.d/run.h5" $ds 2
  expect_refusal "damaged skeleton $ds" \
    "run.h5' is damaged: dataset '$ds': its variable-length strings do not match the file's strings_digest" \
    $RUN --resume -o "$tmp/left.h5"
  mv "$tmp/run.h5.good" "$tmp/keep.d/run.h5"
done
"$PYTHON" -c "import h5py, numpy, sys; h5py.File(sys.argv[1], 'r+').attrs['moatsim_version'] = numpy.bytes_('0.9.0')" \
  "$tmp/keep.d/run.h5"
expect_refusal "another build" "different builds" $RUN --resume -o "$tmp/left.h5"
head -c 4000 "$tmp/left.h5.partial.d/run.h5" >"$tmp/keep.d/run.h5"
expect_refusal "truncated skeleton" "start again without --resume" $RUN --resume -o "$tmp/left.h5"

# The identity covers files pulled in by @include: editing one refuses the resume.
sed '/^sweep = {/,$d' $CFG >"$tmp/main.cfg"
echo '@include "inc.cfg"' >>"$tmp/main.cfg"
echo 'quality_gap = { volatility = 0.25; };' >"$tmp/inc.cfg"
RUN="$MOATSIM run $tmp/main.cfg --threads 1 --paths 40 --checkpoint-paths 20"
start_paused inc 1
kill -KILL $pid
wait $pid 2>/dev/null
echo 'quality_gap = { volatility = 2.0; };' >"$tmp/inc.cfg"
$RUN --resume -o "$tmp/inc.h5" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] && grep -qE "different (effective parameters|scenario texts)" "$tmp/err" && ok || bad "edited @include accepted"

# ... and --force starts again from scratch.
RUN="$MOATSIM run $CFG --threads 1 --paths 40 --checkpoint-paths 20"
$RUN --force --quiet -o "$tmp/left.h5" >/dev/null 2>"$tmp/err" && "$PYTHON" $COMPARE "$tmp/ref.h5" "$tmp/left.h5" >/dev/null &&
  ok || bad "--force over a leftover checkpoint"
[ -e "$tmp/left.h5.partial.d" ] && bad "--force left the checkpoint" || ok

finish
