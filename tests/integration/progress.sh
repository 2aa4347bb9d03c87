#!/bin/sh
# progress.sh — what `moatsim run` writes to a batch log (stderr not a terminal): with
# MOATSIM_PROGRESS_INTERVAL=0 a heartbeat line after every path but a scenario's last (paths
# done of this run's total, rate, elapsed, ETA), a line per finished scenario and a final line
# that say what this run wrote and what the file holds, with the shard's scenarios named. The
# format and the counts are checked, never the timing. A bad interval exits 2.
# Usage: MOATSIM=bin/moatsim PYTHON=/usr/bin/python3 sh tests/integration/progress.sh   (repo root)

NAME=progress
. tests/integration/sweep_lib.inc
# Shard 1/3 of the 6-scenario sweep: scenarios 1 and 4, 4 paths each, one thread (paths finish
# in order, so the heartbeat counts are known).
RUN="$MOATSIM run $CFG --threads 1 --paths 4 --shard 1/3"

MOATSIM_PROGRESS_INTERVAL=0 $RUN -o "$tmp/a.h5" >"$tmp/out" 2>"$tmp/err" || bad "run with interval 0"
grep '^moatsim run: progress: ' "$tmp/err" >"$tmp/beats"
# Every heartbeat line has the full format.
hms='[0-9]+:[0-5][0-9]:[0-5][0-9]'
pat="^moatsim run: progress: [0-9]+ of 8 paths of this run \(scenario [14]: [1-3] of 4\), [0-9.e+]+ paths/s, elapsed $hms, ETA $hms\$"
[ "$(grep -cvE "$pat" "$tmp/beats")" -eq 0 ] && ok || bad "heartbeat lines of another format: $(grep -vE "$pat" "$tmp/beats" | head -1)"
# After paths 1..3 of scenario 1 (1..3 of this run's 8) and of scenario 4 (5..7): six lines.
got=$(sed -E 's/^moatsim run: progress: ([0-9]+) of 8 paths of this run \(scenario ([14]): ([1-3]) of 4\).*/\1 \2 \3/' "$tmp/beats" | tr '\n' ',')
[ "$got" = "1 1 1,2 1 2,3 1 3,5 4 1,6 4 2,7 4 3," ] && ok || bad "heartbeat counts: $got"
# Scenario lines and the final line: what this run did, what the file holds, which shard.
shard="(shard 1/3: scenarios k mod 3 = 1, 2 of the sweep's 6)"
grep -qF "moatsim run: writing '$tmp/a.h5.partial" "$tmp/err" && grep -qF ": 2 of 2 scenarios to run $shard" "$tmp/err" &&
  ok || bad "the opening line"
grep -qE "^moatsim run: scenario 1 done: 4 paths in [0-9.]+ s \([0-9.]+ paths/s\); this run 1 of 2; the file holds 1 of 2 \(shard 1/3" \
  "$tmp/err" && ok || bad "scenario 1's line"
grep -qF "; this run 2 of 2; the file holds 2 of 2 $shard" "$tmp/err" && ok || bad "scenario 4's line"
grep -qF "wrote $tmp/a.h5 $shard: 2 of 2 scenarios written by this run; the file holds 2 of 2; 4 paths each, 1 thread, " \
  "$tmp/out" && ok || bad "the final line: $(cat "$tmp/out")"
if grep -q "scenario [0-9]*/[0-9]* done" "$tmp/err"; then bad "a shard's line reads as the whole sweep's"; else ok; fi

# A whole sweep: the final line counts all six.
MOATSIM_PROGRESS_INTERVAL=86400 $MOATSIM run $CFG --threads 1 --paths 2 -o "$tmp/all.h5" >"$tmp/out" 2>"$tmp/err" ||
  bad "run with a one-day interval"
grep -q "^moatsim run: progress: " "$tmp/err" && bad "a heartbeat before the interval" || ok
grep -q "^wrote $tmp/all.h5: 6 of 6 scenarios written by this run; the file holds 6 of 6; 2 paths each" "$tmp/out" &&
  ok || bad "the final line of a whole sweep: $(cat "$tmp/out")"
# --quiet: nothing on stderr.
MOATSIM_PROGRESS_INTERVAL=0 $RUN --quiet -o "$tmp/q.h5" >/dev/null 2>"$tmp/err" && [ ! -s "$tmp/err" ] && ok ||
  bad "--quiet printed progress"

# A bad interval: exit 2, the variable, its value and the range; no file.
for v in -1 abc 1e9 ""; do
  MOATSIM_PROGRESS_INTERVAL=$v $RUN -o "$tmp/bad.h5" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  [ $rc -eq 2 ] && grep -qF "MOATSIM_PROGRESS_INTERVAL = '$v' is not a number of seconds in [0, 86400]" "$tmp/err" &&
    ok || bad "interval '$v': exit $rc"
  [ -e "$tmp/bad.h5" ] || [ -e "$tmp/bad.h5.partial" ] || [ -e "$tmp/bad.h5.partial.d" ] && bad "interval '$v': a file appeared" || ok
done

finish
