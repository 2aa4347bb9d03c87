#!/bin/sh
# resume.sh — a run stopped by SIGINT / SIGTERM ends within seconds (exit 130 / 143) keeping its
# finished scenarios in FILE.partial with a message on how to resume; `--resume` after a signal
# or kill -9 (after 0, some and all but one scenarios) finishes a file whose datasets equal an
# uninterrupted run's; unreadable or foreign partial files are refused (exit 2).
# Usage: MOATSIM=bin/moatsim PYTHON=/usr/bin/python3 sh tests/integration/resume.sh   (repo root)

NAME=resume
. tests/integration/sweep_lib.inc
# About 0.7 s a scenario at 150 paths on one thread: time to stop a run between any two.
RUN="$MOATSIM run $CFG --threads 1 --paths 150"

$RUN --quiet -o "$tmp/ref.h5" >/dev/null 2>"$tmp/err" || bad "reference run"

# done_count FILE: scenarios flagged done in FILE (0 when it cannot be read yet).
done_count() {
  "$PYTHON" -c "import h5py, sys; print(int(h5py.File(sys.argv[1], 'r')['market/scenario_done'][()].sum()))" "$1" \
    2>/dev/null || echo 0
}

# interrupt NAME SIGNAL AFTER CODE: start a run, send SIGNAL once AFTER scenarios are reported
# done (progress lines on stderr), expect exit CODE within 5 s of the signal, then --resume.
interrupt() {
  name=$1 sig=$2 after=$3 code=$4
  out="$tmp/$name.h5"
  $RUN -o "$out" >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  waited=0
  while ! grep -qF "writing '$out.partial'" "$tmp/err" || [ "$(grep -c ' done: ' "$tmp/err")" -lt "$after" ]; do
    sleep 0.02
    waited=$((waited + 1))
    [ $waited -gt 3000 ] && break
  done
  t0=$(date +%s.%N)
  kill -"$sig" $pid
  wait $pid 2>/dev/null
  rc=$?
  t1=$(date +%s.%N)
  if [ "$sig" = KILL ]; then
    [ $rc -eq 137 ] && ok || bad "$name: exit $rc after kill -9"
  else
    if [ $rc -eq "$code" ]; then ok; else bad "$name: exit $rc, expected $code"; fi
    "$PYTHON" -c "import sys; sys.exit(float(sys.argv[2]) - float(sys.argv[1]) > 5)" "$t0" "$t1" &&
      ok || bad "$name: took more than 5 s to stop"
    grep -qF -- "--resume" "$tmp/err" && grep -qF "$out.partial" "$tmp/err" && ok ||
      bad "$name: no resume hint"
  fi
  [ -e "$out" ] && bad "$name: the final file appeared"
  [ -e "$out.partial" ] && ok || bad "$name: no partial file kept"
  n=$(done_count "$out.partial")
  echo "  $name: stopped by SIG$sig with $n of 6 scenarios done"
  if $RUN --resume --quiet -o "$out" >"$tmp/out" 2>"$tmp/err"; then ok; else bad "$name: --resume failed"; fi
  [ -e "$out.partial" ] && bad "$name: partial file left after resume"
  grep -qF "$((6 - n)) of 6 scenarios written by this run; the file holds 6 of 6" "$tmp/out" && ok || bad "$name: resume did not run the $((6 - n)) missing scenarios"
  "$PYTHON" $COMPARE "$tmp/ref.h5" "$out" >"$tmp/cmp" 2>&1 && ok || {
    bad "$name: resumed file differs"
    cat "$tmp/cmp"
  }
}

interrupt int0 INT 0 130
interrupt term2 TERM 2 143
interrupt kill0 KILL 0 0
interrupt kill3 KILL 3 0
interrupt term5 TERM 5 143

# A second resume of a finished run: nothing to resume.
$RUN --resume -o "$tmp/int0.h5" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] && grep -qF "nothing to resume" "$tmp/err" && ok || bad "resume without a partial file"

# A leftover partial file is not overwritten silently.
$RUN -o "$tmp/left.h5" >/dev/null 2>"$tmp/left.err" &
pid=$!
while ! grep -qF " done: " "$tmp/left.err"; do sleep 0.02; done
kill -9 $pid
wait $pid 2>/dev/null
$RUN -o "$tmp/left.h5" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] && grep -qF "continue it with --resume, or pass --force" "$tmp/err" && ok || bad "leftover partial"

# Partial files of other runs, or unreadable ones, are refused with exit 2 and a message.
cp "$tmp/left.h5.partial" "$tmp/keep.partial"
expect_refusal() { # NAME NEEDLE ARGS...
  name=$1 needle=$2
  shift 2
  cp "$tmp/keep.partial" "$tmp/left.h5.partial"
  "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  [ $rc -eq 2 ] && grep -qF -- "$needle" "$tmp/err" && ok || bad "$name: exit $rc"
  [ -e "$tmp/left.h5" ] && bad "$name: a results file appeared"
}
expect_refusal "other seed" "has seed" $RUN --seed 99 --resume -o "$tmp/left.h5"
expect_refusal "other scenario text" "different scenario texts" $RUN --set quality_gap.volatility=0.3 --resume -o "$tmp/left.h5"
expect_refusal "other shard" "is shard" $RUN --shard 1/2 --resume -o "$tmp/left.h5"
# written by another build: the version attribute rewritten by hand
cp "$tmp/keep.partial" "$tmp/old.h5.partial"
"$PYTHON" -c "import h5py, numpy, sys; h5py.File(sys.argv[1], 'r+').attrs['moatsim_version'] = numpy.bytes_('0.9.0')" \
  "$tmp/old.h5.partial"
$RUN --resume -o "$tmp/old.h5" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] && grep -qF "moatsim 0.9.0" "$tmp/err" && grep -qF "different builds" "$tmp/err" && ok ||
  bad "partial of another version"
head -c 4000 "$tmp/keep.partial" >"$tmp/trunc.h5.partial"
$RUN --resume -o "$tmp/trunc.h5" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] && grep -qF "start again without --resume" "$tmp/err" && ok || bad "truncated partial"
echo garbage >"$tmp/junk.h5.partial"
$RUN --resume -o "$tmp/junk.h5" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] && grep -qF "start again without --resume" "$tmp/err" && ok || bad "garbage partial"
# ... and --force starts again from scratch.
$RUN --force --quiet -o "$tmp/left.h5" >/dev/null 2>"$tmp/err" && "$PYTHON" $COMPARE "$tmp/ref.h5" "$tmp/left.h5" >/dev/null &&
  ok || bad "--force over a leftover partial"

finish
