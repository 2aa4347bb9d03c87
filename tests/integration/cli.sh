#!/bin/sh
# cli.sh — the command line on bad input: exit code 2, a message naming file:line and the key,
# and no results file; help, version, params and the generated parameter reference.
# Usage: MOATSIM=bin/moatsim sh tests/integration/cli.sh   (run from the repository root)

MOATSIM=${MOATSIM:-bin/moatsim}
BAD=tests/data/bad
BASE=scenarios/baseline.cfg
tmp=$(mktemp -d "${TMPDIR:-/tmp}/moat_cli.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
passed=0
failed=0

ok() { passed=$((passed + 1)); }
bad() {
  failed=$((failed + 1))
  echo "FAIL: $1"
  [ -f "$tmp/err" ] && sed 's/^/  stderr: /' "$tmp/err" | head -5
}

# expect_failure NAME NEEDLE... -- ARGS: `moatsim run ARGS -o $tmp/out.h5` exits 2, stderr holds
# every needle, and neither the results file nor its .partial appears.
expect_failure() {
  name=$1
  shift
  needles=""
  while [ "$1" != "--" ]; do
    needles="$needles
$1"
    shift
  done
  shift
  rm -f "$tmp/out.h5" "$tmp/out.h5.partial.d"
  "$MOATSIM" run "$@" -o "$tmp/out.h5" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ "$rc" -ne 2 ]; then
    bad "$name: exit code $rc, expected 2"
    return
  fi
  missing=$(printf '%s\n' "$needles" | while IFS= read -r n; do
    [ -z "$n" ] && continue
    grep -qF -- "$n" "$tmp/err" || printf '%s; ' "$n"
  done)
  if [ -n "$missing" ]; then
    bad "$name: message lacks: $missing"
    return
  fi
  if [ -e "$tmp/out.h5" ] || [ -e "$tmp/out.h5.partial.d" ]; then
    bad "$name: a results file appeared"
    return
  fi
  ok
}

# expect_exit NAME CODE ARGS...: the command exits with CODE.
expect_exit() {
  name=$1
  code=$2
  shift 2
  "$MOATSIM" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ "$rc" -eq "$code" ]; then ok; else bad "$name: exit code $rc, expected $code"; fi
}

# The bad-input corpus: each file says the line and text its message must contain.
for f in "$BAD"/*.cfg; do
  line=$(sed -n 's/^# expect-line: //p' "$f")
  text=$(sed -n 's/^# expect: //p' "$f")
  expect_failure "$f" "$f:$line:" "$text" -- "$f"
done

# Files that cannot be read.
expect_failure "missing file" "$tmp/nope.cfg: cannot open the scenario file" -- "$tmp/nope.cfg"
cp "$BASE" "$tmp/locked.cfg"
chmod 000 "$tmp/locked.cfg"
if [ "$(id -u)" -eq 0 ]; then
  echo "skip: unreadable file (running as root, chmod 000 does not stop reading)"
else
  expect_failure "unreadable file" "$tmp/locked.cfg: cannot open the scenario file" -- "$tmp/locked.cfg"
fi

# --set errors name the override.
expect_failure "--set NaN" "--set labs.open-a.lag=nan:" "labs.open-a.lag = nan is not a finite number" -- \
  "$BASE" --set labs.open-a.lag=nan
expect_failure "--set Inf" "--set quality_gap.volatility=inf:" "is not a finite number" -- \
  "$BASE" --set quality_gap.volatility=inf
expect_failure "--set out of range" "--set quality_gap.initial=1.7:" "is outside [0.0001, 0.9]" -- \
  "$BASE" --set quality_gap.initial=1.7
expect_failure "--set unknown key" "--set quality_gap.long_rn=0.02:" 'did you mean `quality_gap.long_run`?' -- \
  "$BASE" --set quality_gap.long_rn=0.02
expect_failure "--set unknown lab" '--set labs.open-z.lag=0.1:' 'no lab is named "open-z"' -- \
  "$BASE" --set labs.open-z.lag=0.1
expect_failure "--set unparsable number" "--set paths=many:" '`many` is not a number' -- "$BASE" --set paths=many
expect_failure "--set unparsable list" "--set output.quantiles=[0.1,:" "cannot read" -- \
  "$BASE" --set 'output.quantiles=[0.1,'
expect_failure "--set overflowing count" "--set paths=1e12:" "paths = 1000000000000 is outside [1, 10000000]" -- \
  "$BASE" --set paths=1e12
expect_failure "--set beyond 2^53" "--set seed=9007199254740993:" "seed = 9007199254740993 is outside [0, 9007199254740992]" -- \
  "$BASE" --set seed=9007199254740993
expect_failure "--seed beyond 2^53" "--seed 9007199254740993:" "whole number in [0, 9007199254740992]" -- \
  "$BASE" --seed 9007199254740993
expect_failure "--set negative count" "--set enterprises.count=-3:" "is outside [1, 1000000]" -- \
  "$BASE" --set enterprises.count=-3
expect_failure "--set without =" "expected key=value" -- "$BASE" --set paths
expect_failure "memory limit" "more than --max-memory" "reduce paths" -- "$BASE" --max-memory 1M
# Sweep designs too large for the machine: refused before anything is allocated or written.
HUGE=tests/data/lhs_huge.cfg
expect_failure "sweep memory" "$HUGE:9: sweep.samples = 10000000: the run needs about" \
  "more than --max-memory = 1.00 GiB: at most" "lower sweep.samples, or raise --max-memory" -- "$HUGE" --max-memory 1G
# ulimit -f (512- or 1024-byte blocks by shell) stands for any limit on the results file; a run
# that crossed it would be killed by SIGXFSZ.
for cmd in validate run; do
  rm -f "$tmp/out.h5" "$tmp/out.h5.partial"
  (
    ulimit -f 2048
    if [ $cmd = run ]; then "$MOATSIM" run "$HUGE" -o "$tmp/out.h5"; else "$MOATSIM" validate "$HUGE"; fi
  ) >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ $rc -eq 2 ] && grep -qF "$HUGE:9: sweep.samples = 10000000: the results file would take about" "$tmp/err" &&
    grep -qF "(ulimit -f): at most" "$tmp/err" && [ ! -e "$tmp/out.h5" ] && [ ! -e "$tmp/out.h5.partial" ]; then
    ok
  else
    bad "$cmd under ulimit -f: exit $rc, expected 2 and the file size message, no file"
  fi
done
expect_failure "bad option" "unknown option '--bogus'" -- "$BASE" --bogus
expect_failure "bad shard" "--shard 3/2" -- "$BASE" --shard 3/2

# Good input and the other commands.
expect_exit "validate baseline" 0 validate "$BASE"
if grep -q "^offers: *21$" "$tmp/out" && grep -q "^steps: *120 " "$tmp/out"; then ok; else bad "validate output: offers 21, steps 120"; fi
expect_exit "validate with --set" 0 validate "$BASE" --set labs.open-a.lag=0.1 --set clouds.wafer-scale.speed=12
expect_exit "validate refuses run options" 2 validate "$BASE" -o x.h5
expect_exit "restricted origin warning" 0 validate "$BASE" --set 'governance.restricted_origins=["xx"]'
if grep -q 'warning: .*"xx"' "$tmp/err"; then ok; else bad "restricted origin warning on stderr"; fi
expect_exit "no command" 2
expect_exit "unknown command" 2 frobnicate
expect_exit "top-level help" 0 --help
for c in run validate params; do expect_exit "$c --help" 0 "$c" --help; done
expect_exit "version" 0 version
if grep -q "^moatsim " "$tmp/out" && grep -q "^libconfig: " "$tmp/out"; then ok; else bad "version output"; fi
expect_exit "params" 0 params
expect_exit "params bad format" 2 params --format yaml

# One exit-code rule for every command: 0 success, 1 runtime failure, 2 usage or input error.
"$MOATSIM" run "$BASE" -o "$tmp/small.h5" --paths 2 --set horizon_years=0.5 --set enterprises.count=40 --quiet \
  >/dev/null 2>"$tmp/err" || bad "small run"
printf 'not hdf5\n' >"$tmp/text.h5"
for c in info summary report merge export; do
  expect_exit "$c missing file" 2 "$c" "$tmp/missing.h5" -o "$tmp/m.h5"
  expect_exit "$c not a results file" 2 "$c" "$tmp/text.h5" -o "$tmp/m.h5"
  expect_exit "$c unknown option" 2 "$c" "$tmp/small.h5" --bogus
done
expect_exit "validate missing file" 2 validate "$tmp/missing.cfg"
expect_exit "run missing file" 2 run "$tmp/missing.cfg" -o "$tmp/m.h5"
expect_exit "params unknown option" 2 params --bogus
expect_exit "version extra argument" 2 version extra
expect_exit "summary --scenario out of range" 2 summary "$tmp/small.h5" --scenario 5
expect_exit "report --scenario out of range" 2 report "$tmp/small.h5" -o "$tmp/rep" --scenario 5
expect_exit "summary ok" 0 summary "$tmp/small.h5"
expect_exit "info ok" 0 info "$tmp/small.h5"
# A damaged file is refused with exit 2 (in the ASan build too: HDF5's leak of the damaged object
# header is suppressed, sim/input/config.c)
cp "$tmp/small.h5" "$tmp/damaged.h5"
"${PYTHON:-/usr/bin/python3}" tests/integration/damage_h5.py "$tmp/damaged.h5" labs/time >/dev/null || bad "damage_h5.py"
expect_exit "merge of a damaged file" 2 merge "$tmp/damaged.h5" -o "$tmp/m.h5"
if grep -q "is damaged: object 'labs/time'" "$tmp/err" && ! grep -q "LeakSanitizer" "$tmp/err"; then ok
else bad "merge of a damaged file: message"; fi
expect_exit "info --verify of a damaged file" 2 info --verify "$tmp/damaged.h5"
if grep -q "'$tmp/damaged.h5' is damaged: object 'labs/time'" "$tmp/err"; then ok; else bad "info --verify: message"; fi
expect_exit "info --verify of an intact file" 0 info "$tmp/small.h5" --verify
if grep -q "^checksums: every dataset read in full and verified" "$tmp/out"; then ok; else bad "info --verify: no verified line"; fi
MOATSIM_PYTHON="$tmp/no-python" "$MOATSIM" report "$tmp/small.h5" -o "$tmp/rep" >/dev/null 2>&1
rc=$?
if [ "$rc" -eq 1 ]; then ok; else bad "report without python (runtime): exit code $rc, expected 1"; fi
mkdir -p "$tmp/ro" && "$MOATSIM" run "$BASE" -o "$tmp/ro/x.h5" --paths 1 --set horizon_years=0.1 \
  --set enterprises.count=20 --quiet >/dev/null 2>&1 && chmod 500 "$tmp/ro"
if [ "$(id -u)" -ne 0 ]; then expect_exit "merge into a read-only directory (runtime)" 1 merge "$tmp/small.h5" -o "$tmp/ro/y.h5"; fi
if grep -q '^  1    runtime failure' <<EOF2
$("$MOATSIM" --help)
EOF2
then ok; else bad "moatsim --help documents the exit codes"; fi

# -V / --version alone and after every command.
for args in "-V" "--version" "run -V" "run --version" "validate --version" "params -V" "info -V" \
  "summary --version" "merge -V" "report -V" "export --version" "version"; do
  # shellcheck disable=SC2086
  expect_exit "moatsim $args" 0 $args
  if head -n1 "$tmp/out" | grep -q "^moatsim [0-9.]* (git "; then ok; else bad "moatsim $args prints the version"; fi
done

# Did you mean, for commands as for keys.
expect_exit "mistyped command" 2 rn scenarios/baseline.cfg
if grep -qF "unknown command 'rn' (did you mean \`run\`?)" "$tmp/err"; then ok; else bad "rn: did you mean run"; fi
expect_exit "mistyped command 2" 2 sumary x.h5
if grep -qF '(did you mean `summary`?)' "$tmp/err"; then ok; else bad "sumary: did you mean summary"; fi
expect_exit "far command" 2 frobnicate
if grep -q "did you mean" "$tmp/err"; then bad "frobnicate: no suggestion expected"; else ok; fi

# The true ranges: --paths states the parameter table's range (paths in [1, 10000000]).
expect_failure "--paths 0" "--paths 0: expected a whole number in [1, 10000000]" -- "$BASE" --paths 0
expect_failure "--paths above the table's maximum" "--paths 10000001: expected a whole number in [1, 10000000]" -- \
  "$BASE" --paths 10000001
expect_failure "--seed above 2^53" "--seed 9007199254740993: expected a whole number in [0, 9007199254740992]" -- \
  "$BASE" --seed 9007199254740993
if "$MOATSIM" params | grep -q "^paths .*\[1, 10000000\]"; then ok; else bad "params: paths range"; fi

# More threads than cores: a warning (4096 is the largest --threads and above any core count here).
expect_exit "--threads above the cores" 0 validate "$BASE" --threads 4096 --max-memory 1T
if grep -q "warning: --threads 4096 is more than the [0-9]* cores available" "$tmp/err"; then ok; else bad "--threads warning"; fi
expect_exit "--threads 1" 0 validate "$BASE" --threads 1
if grep -q "warning: --threads" "$tmp/err"; then bad "--threads 1 warned"; else ok; fi

# The sweep section is documented from the parser's table, and a typo gets the nearest key.
for k in method samples axes param values min max log low mid high; do
  if grep -q "^| \`$k\` |" docs/parameters.md; then ok; else bad "docs/parameters.md lacks sweep key $k"; fi
done
printf '%s\n' "$(cat "$BASE")" 'sweep = { method = "lhs"; sample = 4; axes = ( { param = "paths"; min = 1; max = 2; } ); };' >"$tmp/typo.cfg"
expect_failure "sweep key typo" 'unknown key `sweep.sample` in the sweep section (did you mean `sweep.samples`?)' -- "$tmp/typo.cfg"
printf '%s\n' "$(cat "$BASE")" 'sweep = { method = "lhs"; samples = 4.5; axes = ( { param = "paths"; min = 1; max = 2; } ); };' >"$tmp/frac.cfg"
expect_failure "sweep samples not whole" "sweep.samples expects a whole number in [1, 10000000], got a number" -- "$tmp/frac.cfg"

# The checked-in reference is what the table prints.
if "$MOATSIM" params --format markdown >"$tmp/parameters.md" 2>"$tmp/err" &&
  cmp -s "$tmp/parameters.md" docs/parameters.md; then
  ok
else
  bad "docs/parameters.md is stale: run \`make docs\` and commit it"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
