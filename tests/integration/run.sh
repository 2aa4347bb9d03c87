#!/bin/sh
# run.sh — moatsim run end to end: identical datasets for 1, 2 and 7 threads, a file that h5dump,
# ncdump, xarray (netcdf4 and h5netcdf engines) and h5py open with named dimensions, safe writing
# (existing file, missing or unwritable directory, full disk), info/summary on bad files.
# Environment: MOATSIM (the binary), PYTHON (with h5py, xarray, netCDF4, h5netcdf).
# Last line: "N passed, N failed"; exit status 1 when anything failed.
set -u
MOATSIM=${MOATSIM:-./bin/moatsim}
PYTHON=${PYTHON:-/usr/bin/python3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CFG="$ROOT/scenarios/baseline.cfg"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/moatsim-run.XXXXXX")
MNT=""
cleanup() {
  [ -n "$MNT" ] && umount "$MNT" 2>/dev/null
  chmod -R u+w "$TMP" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; }
check() { # check NAME COMMAND...: passes when the command succeeds
  name=$1; shift
  if "$@" >"$TMP/out" 2>&1; then ok "$name"; else bad "$name"; sed 's/^/     /' "$TMP/out" | head -20; fi
}
expect_rc() { # expect_rc NAME RC COMMAND...: passes when the command exits with RC
  name=$1; want=$2; shift 2
  "$@" >"$TMP/out" 2>&1
  got=$?
  if [ "$got" -eq "$want" ]; then ok "$name (exit $got)"; else bad "$name: exit $got, wanted $want"; sed 's/^/     /' "$TMP/out" | head -20; fi
}
# No HDF5 error stacks, no crash messages in what a command printed.
clean_output() { ! grep -q -e 'HDF5-DIAG' -e 'Segmentation' -e 'Aborted' "$TMP/out"; }

# A small sweep of two scenarios (so that /params, swept_params and the scenario dimension
# are exercised): the baseline with a grid over the long-run gap.
cp "$CFG" "$TMP/sweep.cfg"
cat >>"$TMP/sweep.cfg" <<'EOF'
sweep = { method = "grid";
          axes = ( { param = "quality_gap.long_run"; values = [0.01, 0.05]; } ); };
EOF
SMALL="--paths 8 --set enterprises.count=100 --set horizon_years=3 --quiet"

# --- 1. bitwise identical datasets for 1, 2 and 7 threads ------------------------------------
for t in 1 2 7; do
  # shellcheck disable=SC2086
  check "run with --threads $t" "$MOATSIM" run "$TMP/sweep.cfg" -o "$TMP/t$t.h5" --threads "$t" --keep-paths $SMALL
done
for t in 2 7; do
  for g in market labs clouds params paths; do
    check "/$g identical for 1 and $t threads (h5diff)" h5diff "$TMP/t1.h5" "$TMP/t$t.h5" "/$g" "/$g"
  done
done

# --- 2. the file opens in the standard clients -----------------------------------------------
F="$TMP/t2.h5"
check "h5dump -H" h5dump -H "$F"
check "ncdump -h" ncdump -h "$F"
check "ncdump -h -g market" ncdump -h -g market "$F"
check "ncdump -h -g labs" ncdump -h -g labs "$F"
check "ncdump shows named dims" sh -c "ncdump -h -g market '$F' | grep -q 'premium_flagship_quantile(scenario, quantile, time)'"
for engine in netcdf4 h5netcdf; do
  check "xarray engine=$engine" "$PYTHON" -c "
import sys, xarray as xr
f = sys.argv[1]
m = xr.open_dataset(f, group='market', engine='$engine', decode_times=False)
assert m['premium_flagship_quantile'].dims == ('scenario', 'quantile', 'time'), m['premium_flagship_quantile'].dims
assert set(('scenario', 'time', 'quantile')) <= set(m.sizes), m.sizes
assert m.sizes['scenario'] == 2 and m.sizes['time'] == 36, m.sizes
# CF time: step 12 of 12 a year is day 360 of the 360-day calendar
assert float(m['time'][12]) == 360.0 and m['time'].attrs['units'] == 'days since 2026-01-01 00:00:00'
assert m['time'].attrs['calendar'] == '360_day' and '_FillValue' not in m['time'].attrs
d = xr.open_dataset(f, group='market', engine='$engine')  # decoded: dates of the 360-day calendar
assert (d['time'].values[12].year, d['time'].values[12].month) == (2027, 1), d['time'].values[12]
assert (m['scenario_done'].values == 1).all()
l = xr.open_dataset(f, group='labs', engine='$engine')
assert l['price_quantile'].dims == ('scenario', 'quantile', 'lab', 'time')
assert 'closed-a' in list(l['lab'].values), l['lab'].values
assert l['dcf_ratio_mean'].dims == ('scenario', 'lab')
c = xr.open_dataset(f, group='clouds', engine='$engine')
assert c['revenue_mean'].dims == ('scenario', 'cloud', 'time')
p = xr.open_dataset(f, group='params', engine='$engine')
assert list(p['quality_gap_long_run'].values) == [0.01, 0.05], p['quality_gap_long_run'].values
assert p['quality_gap_long_run'].attrs['key'] == 'quality_gap.long_run'
assert not [v for v in p.variables if '.' in v]
assert p.attrs['swept_params'] == 'quality_gap.long_run'
k = xr.open_dataset(f, group='paths/labs', engine='$engine')
assert k['price'].dims == ('scenario', 'path', 'lab', 'time')
assert k.sizes['path'] == 8
" "$F"
done
check "h5py reads dims and attributes" "$PYTHON" -c "
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], 'r') as h:
    assert int(h.attrs['format_version']) == 2 and int(h.attrs['n_scenarios']) == 2
    for key in ('Conventions', 'title', 'source', 'history', 'moatsim_version', 'git_revision', 'compiler',
                'cflags', 'gsl_version', 'hdf5_version', 'libconfig_version', 'seed', 'command_line',
                'scenario_file', 'start_time', 'wall_time_s', 'threads', 'n_scenarios', 'paths'):
        assert key in h.attrs, key
    assert h.attrs['Conventions'] == b'CF-1.10'
    # the scenario text is a variable, not a 16 KB header attribute
    assert 'scenario_text' not in h.attrs and 'sweep' in h['scenario_text'].asstr()[()]
    # no 8-byte integer attribute anywhere (R's ncdf4 has no such type)
    def no_int64(name, obj):
        for k, a in obj.attrs.items():
            assert not (hasattr(a, 'dtype') and a.dtype.kind in 'iu' and a.dtype.itemsize == 8), (name, k)
    no_int64('/', h)
    h.visititems(no_int64)
    # no _FillValue on coordinates, no units on strings
    for g in ('market', 'labs', 'clouds', 'paths/labs'):
        for c in ('time', 'quantile', 'scenario', 'path', 'lab', 'cloud'):
            if c in h[g]:
                assert '_FillValue' not in h[g][c].attrs, (g, c)
    for s in ('labs/lab', 'labs/lab_kind', 'labs/lab_origin', 'clouds/cloud'):
        assert 'units' not in h[s].attrs, s
    v = h['market/premium_flagship_mean']
    assert [d[0].name for d in v.dims] == ['/market/scenario', '/market/time']
    assert np.isnan(v.attrs['_FillValue']) and v.attrs['units'] == b'1'
    # Summaries agree with the kept paths: mean over paths of one metric.
    paths = h['paths/market/premium_flagship'][...]
    assert np.allclose(np.nanmean(paths, axis=1), v[...], rtol=1e-12, equal_nan=True)
" "$F"

# --- 3. info and summary ---------------------------------------------------------------------
check "info" sh -c "'$MOATSIM' info '$F' | grep -q 'premium_flagship_mean(scenario=2, time=36)'"
check "info --scenario prints the scenario text" sh -c "'$MOATSIM' info --scenario '$F' | grep -q 'sweep = '"
check "summary" sh -c "'$MOATSIM' summary '$F' | grep -q 'flagship premium p50'"
check "summary --scenario 1 names the swept value" sh -c "'$MOATSIM' summary '$F' --scenario 1 | grep -q 'quality_gap.long_run = 0.05'"
# The year columns from the CF time (days of 360-day years): in a 3-year monthly run, 1 y is step
# 12 (day 360), 3 y the last step, 35 (day 1050); 5 and 10 y lie beyond the horizon.
"$MOATSIM" summary "$F" --scenario 1 >"$TMP/summary.txt" 2>&1
check "summary: year columns from the CF time coordinate" "$PYTHON" - "$F" "$TMP/summary.txt" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    q = f["market/premium_flagship_quantile"][1, 2, :]   # scenario 1, level 0.5
    assert f["market/time"][12] == 360.0 and len(q) == 36
row = [l.split() for l in open(sys.argv[2]) if "flagship premium p50" in l][0][3:]
assert row == ["%.4g" % q[12], "%.4g" % q[35], "-", "-"], (row, q[12], q[35])
PY
check "info names the format" sh -c "'$MOATSIM' info '$F' | grep -q 'format_version     2 (CF-1.10 layout'"
check "info of a format-1 file" sh -c "'$MOATSIM' info '$ROOT/tests/python/data/v1_grid.h5' | grep -q 'format_version     1 (layout before CF'"
check "summary of a format-1 file" sh -c "'$MOATSIM' summary '$ROOT/tests/python/data/v1_grid.h5' --scenario 3 | grep -q 'quality_gap.long_run = 0.06'"
expect_rc "summary --scenario out of range" 2 "$MOATSIM" summary "$F" --scenario 5
echo "not an HDF5 file" >"$TMP/text.h5"
head -c 30000 "$F" >"$TMP/truncated.h5"
"$PYTHON" -c "import h5py, sys; h5py.File(sys.argv[1], 'w')['x'] = [1, 2]" "$TMP/foreign.h5"
# A file that is not a results file is an input error, like a missing one: exit 2.
for cmd in info summary; do
  for bad_file in text truncated foreign; do
    expect_rc "$cmd on a $bad_file file" 2 "$MOATSIM" "$cmd" "$TMP/$bad_file.h5"
    check "$cmd on a $bad_file file prints no HDF5 stack" clean_output
  done
  expect_rc "$cmd on a missing file" 2 "$MOATSIM" "$cmd" "$TMP/missing.h5"
done

# --- 4. safe writing -------------------------------------------------------------------------
cp "$F" "$TMP/keep.h5"
sum_before=$(cksum <"$TMP/keep.h5")
# shellcheck disable=SC2086
expect_rc "existing output without --force" 2 "$MOATSIM" run "$CFG" -o "$TMP/keep.h5" $SMALL
check "existing output unchanged" test "$(cksum <"$TMP/keep.h5")" = "$sum_before"
check "no checkpoint left" test ! -e "$TMP/keep.h5.partial.d"
# shellcheck disable=SC2086
expect_rc "output in a missing directory" 2 "$MOATSIM" run "$CFG" -o "$TMP/no/such/dir/x.h5" $SMALL
# shellcheck disable=SC2086
expect_rc "a bad --set value" 2 "$MOATSIM" run "$CFG" -o "$TMP/bad.h5" $SMALL --set quality_gap.initial=7
check "no file after a bad --set" test ! -e "$TMP/bad.h5"
mkdir "$TMP/ro" && chmod 555 "$TMP/ro"
if touch "$TMP/ro/probe" 2>/dev/null; then
  rm -f "$TMP/ro/probe"
  echo "skip unwritable directory (this user writes anywhere)"
else
  # shellcheck disable=SC2086
  expect_rc "unwritable directory" 1 "$MOATSIM" run "$CFG" -o "$TMP/ro/x.h5" $SMALL
fi
# Full disk: a 1 MiB tmpfs (needs the right to mount; skipped otherwise). The earlier file stays.
# A file estimated larger than the free space is refused before the run; a disk that fills during
# the run (other writers on a shared filesystem) is reached with the up-front check turned off.
mkdir "$TMP/full"
if mount -t tmpfs -o size=1m tmpfs "$TMP/full" 2>/dev/null; then
  MNT="$TMP/full"
  echo "earlier results" >"$TMP/full/x.h5"
  # shellcheck disable=SC2086
  expect_rc "too large for the free space" 2 "$MOATSIM" run "$CFG" -o "$TMP/full/x.h5" --force --keep-paths $SMALL
  cp "$TMP/out" "$TMP/room.out"
  check "free space message" grep -q "MiB free on the filesystem of '$TMP/full': set output.keep_paths = false" "$TMP/room.out"
  # shellcheck disable=SC2086
  expect_rc "full disk" 1 env MOATSIM_TEST_NO_ROOM_CHECK=1 "$MOATSIM" run "$CFG" -o "$TMP/full/x.h5" --force --keep-paths $SMALL
  cp "$TMP/out" "$TMP/full.out"
  check "full disk message" grep -q 'No space left on device' "$TMP/full.out"
  check "full disk: earlier file intact" grep -q 'earlier results' "$TMP/full/x.h5"
  # what was finished stays in the checkpoint (a write error never deletes it; kill.sh checks
  # what is kept on a fuller tmpfs); with room again, --resume completes the file
  if [ -e "$TMP/full/x.h5.partial.d" ]; then again=--resume; else again=--force; fi
  mount -o remount,size=64m "$TMP/full" 2>/dev/null
  # shellcheck disable=SC2086
  check "full disk: run $again with room again" "$MOATSIM" run "$CFG" -o "$TMP/full/x.h5" $again --keep-paths $SMALL
  check "full disk: results file complete" "$PYTHON" -c "import h5py, sys; assert h5py.File(sys.argv[1], 'r')['market/scenario_done'][()].all()" "$TMP/full/x.h5"
  check "full disk: no checkpoint left" test ! -e "$TMP/full/x.h5.partial.d"
else
  echo "skip full disk (cannot mount a tmpfs)"
fi
# --force replaces; -o overrides output.file; --seed changes the results.
# shellcheck disable=SC2086
check "--force replaces an existing file" "$MOATSIM" run "$CFG" -o "$TMP/keep.h5" --force $SMALL
check "replaced file differs" test "$(cksum <"$TMP/keep.h5")" != "$sum_before"
# shellcheck disable=SC2086
check "--seed is recorded" sh -c "'$MOATSIM' run '$CFG' -o '$TMP/seed.h5' --seed 7 $SMALL && h5dump -a /seed '$TMP/seed.h5' | grep -q '(0): \"7\"\$'"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
