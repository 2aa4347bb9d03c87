#!/bin/sh
# netcdf.sh — moatsim export: the flat CF netCDF files it writes, used as they are by CDO
# (sinfon, timmean) and NCO (ncra, ncwa, ncap2); every result checked against the values computed
# with h5py from the results file itself. Also the export's errors, and a format-1 file.
# Environment: MOATSIM (the binary), PYTHON (with h5py, xarray, netCDF4). Needs cdo and the NCO
# tools (Debian packages cdo, nco: make deps).
# Last line: "N passed, N failed"; exit status 1 when anything failed.
set -u
NAME=netcdf
. "$(dirname "$0")/sweep_lib.inc"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$tmp
for tool in cdo ncra ncwa ncap2 ncdump; do
  if ! command -v $tool >/dev/null 2>&1; then
    echo "FAIL $tool is missing: install the Debian packages cdo and nco (make deps)"
    echo "0 passed, 1 failed"
    exit 1
  fi
done

# A list sweep of a 1-year and a 2-year scenario (the shorter one is padded with missing values
# for its second year) with kept paths: 4 labs (the open ones have no mini price: missing), 2 clouds.
H5="$TMP/run.h5"
OUT="$TMP/nc"
check "run" "$MOATSIM" run "$ROOT/tests/python/data/list.cfg" -o "$H5" --paths 5 --set enterprises.count=40 \
  --keep-paths --quiet
check "export" "$MOATSIM" export "$H5" -o "$OUT"
for g in market labs clouds params paths_market paths_labs paths_clouds; do
  check "export wrote run_$g.nc" test -s "$OUT/run_$g.nc"
done

# --- CDO: every time-varying variable read, monthly steps on the 360-day calendar -------------
for g in market labs clouds paths_market paths_labs paths_clouds; do
  check "cdo sinfon run_$g.nc: no warning, 24 monthly steps from 2026-01-01" sh -c "
    cdo sinfon '$OUT/run_$g.nc' >'$TMP/sinfon' 2>&1 || exit 1
    ! grep -qi -e warning -e skipped -e unsupported '$TMP/sinfon' || { cat '$TMP/sinfon'; exit 1; }
    grep -q 'RefTime =  2026-01-01 00:00:00  Units = days  Calendar = 360_day' '$TMP/sinfon' &&
    grep -q 'time : 24 steps' '$TMP/sinfon' &&
    grep -q '2026-02-01 00:00:00' '$TMP/sinfon' && grep -q '2027-12-01 00:00:00' '$TMP/sinfon'"
done
check "cdo sinfon lists every summary variable of /labs" sh -c "
  cdo -s showname '$OUT/run_labs.nc' | tr ' ' '\n' | grep -c _mean | grep -qx \"\$('$PYTHON' -c \"
import h5py, sys
with h5py.File(sys.argv[1], 'r') as f:
    print(sum(1 for k in f['labs'] if k.endswith('_mean')))\" '$H5')\""

check "cdo timmean" cdo -s timmean "$OUT/run_market.nc" "$TMP/timmean_market.nc"
check "cdo timmean labs" cdo -s timmean "$OUT/run_labs.nc" "$TMP/timmean_labs.nc"
check "ncra (average over the record dimension, time)" ncra -O "$OUT/run_market.nc" "$TMP/ncra_market.nc"
check "ncra on kept paths" ncra -O -v price "$OUT/run_paths_labs.nc" "$TMP/ncra_paths_labs.nc"
check "ncwa -a scenario" ncwa -O -a scenario -v share_closed_mean,premium_flagship_quantile \
  "$OUT/run_market.nc" "$TMP/ncwa_market.nc"
check "ncap2 addresses parameters by name" ncap2 -O -v \
  -s 'gap_pct=quality_gap_long_run*100;years=horizon_years' "$OUT/run_params.nc" "$TMP/ncap2.nc"

# The tools' results against the same statistics computed from the results file with h5py
# (missing values skipped: the 1-year scenario's second year, the open labs' mini price).
check "CDO and NCO results equal the values from the results file" "$PYTHON" - "$H5" "$TMP" <<'PY'
import sys
import h5py
import numpy as np
import xarray as xr

h5, tmp = sys.argv[1], sys.argv[2]
with h5py.File(h5, "r") as f:
    closed = f["market/share_closed_mean"][()]            # (scenario, time)
    prem_q = f["market/premium_flagship_quantile"][()]    # (scenario, quantile, time)
    mini = f["labs/price_mini_mean"][()]                  # (scenario, lab, time)
    paths = f["paths/labs/price"][()]                     # (scenario, path, lab, time)
    gap = f["params/quality_gap_long_run"][()]
    horizon = f["params/horizon_years"][()]
    kinds = list(f["labs/lab_kind"].asstr()[()])
    days = f["market/time"][()]

def nc(name):
    return xr.open_dataset(f"{tmp}/{name}", decode_times=False)

# the padding is there, and missing in the export: scenario 0 has 12 steps, scenario 1 has 24
assert np.isnan(closed[0, 12:]).all() and not np.isnan(closed[0, :12]).any() and not np.isnan(closed[1]).any()
assert [k for k in kinds] == ["closed", "closed", "open", "open"]
assert np.isnan(mini[:, 2:, :]).all() and not np.isnan(mini[:, :2, :12]).any()

tm = nc("timmean_market.nc")
np.testing.assert_allclose(tm["share_closed_mean"].values[0], np.nanmean(closed, axis=1), rtol=1e-12)
np.testing.assert_allclose(tm["premium_flagship_quantile"].values[0], np.nanmean(prem_q, axis=2), rtol=1e-12)
# CDO's time is the middle of the averaged steps (days since 2026-01-01)
assert tm["time"].attrs["calendar"] == "360_day"
tl = nc("timmean_labs.nc")
got = tl["price_mini_mean"].values[0]                    # (scenario, lab)
assert np.isnan(got[:, 2:]).all()                        # open labs: all missing -> missing
np.testing.assert_allclose(got[:, :2], np.nanmean(mini[:, :2, :], axis=2), rtol=1e-12)

ra = nc("ncra_market.nc")
np.testing.assert_allclose(ra["share_closed_mean"].values[0], np.nanmean(closed, axis=1), rtol=1e-12)
np.testing.assert_allclose(float(ra["time"].values[0]), days.mean(), rtol=1e-12)
rp = nc("ncra_paths_labs.nc")
with np.errstate(invalid="ignore"), __import__("warnings").catch_warnings():
    __import__("warnings").simplefilter("ignore", RuntimeWarning)
    want = np.nanmean(paths, axis=3)                     # (scenario, path, lab)
np.testing.assert_allclose(rp["price"].values[0], want, rtol=1e-12, equal_nan=True)

wa = nc("ncwa_market.nc")
np.testing.assert_allclose(wa["share_closed_mean"].values, np.nanmean(closed, axis=0), rtol=1e-12)
np.testing.assert_allclose(wa["premium_flagship_quantile"].values,
                           np.transpose(np.nanmean(prem_q, axis=0)), rtol=1e-12)  # (time, quantile)

ap = nc("ncap2.nc")
np.testing.assert_allclose(ap["gap_pct"].values, gap * 100, rtol=1e-15)
np.testing.assert_array_equal(ap["years"].values, horizon)
PY

# --- what the exported files say about themselves ----------------------------------------------
check "exported files: CF-1.10, time first and unlimited, dotted keys kept, names as flag_meanings" \
  "$PYTHON" - "$OUT" "$H5" <<'PY'
import sys
import h5py
import netCDF4
import numpy as np
import xarray as xr

out, h5 = sys.argv[1], sys.argv[2]
with h5py.File(h5, "r") as f:
    seed = f.attrs["seed"].decode()
    labs = " ".join(f["labs/lab"].asstr()[()])
    kinds = " ".join(f["labs/lab_kind"].asstr()[()])
    text = f["scenario_text"].asstr()[()]
for g in ("market", "labs", "clouds", "paths_market", "paths_labs", "paths_clouds"):
    with netCDF4.Dataset(f"{out}/run_{g}.nc") as d:
        assert d.Conventions == "CF-1.10" and d.seed == seed and d.source_group == g.replace("_", "/", 1)
        assert d.dimensions["time"].isunlimited(), g
        assert list(d.dimensions)[0] == "time", list(d.dimensions)
        t = d["time"]
        assert t.units == "days since 2026-01-01 00:00:00" and t.calendar == "360_day" and t.axis == "T"
        np.testing.assert_array_equal(t[:], np.arange(24) * 30.0)
        for name, v in d.variables.items():
            assert "long_name" in v.ncattrs(), (g, name)
            if "time" in v.dimensions:
                assert v.dimensions[0] == "time", (g, name, v.dimensions)
            if name in d.dimensions:
                assert "_FillValue" not in v.ncattrs(), (g, name)
            elif v.dtype == np.float64:
                assert v._FillValue == 9.969209968386869e36, (g, name)
        assert "moatsim export" in d.history.splitlines()[0] and "moatsim run" in d.history
        assert "scenario_text" not in d.ncattrs()
with netCDF4.Dataset(f"{out}/run_labs.nc") as d:
    assert d["lab"].flag_meanings == labs and list(d["lab"].flag_values) == [0, 1, 2, 3]
    assert d["lab"].lab_kind == kinds
with netCDF4.Dataset(f"{out}/run_params.nc") as d:
    assert d["quality_gap_long_run"].key == "quality_gap.long_run"
    assert not [n for n in d.variables if "." in n or "-" in n]
    assert d.labs_closed_a_kind == '"closed"' and d.swept_params == "horizon_years quality_gap.long_run"
# xarray decodes the time coordinate to dates of the 360-day calendar
for engine in ("netcdf4", "h5netcdf"):
    ds = xr.open_dataset(f"{out}/run_market.nc", engine=engine)
    assert (ds["time"].values[12].year, ds["time"].values[12].month) == (2027, 1)
    assert ds["share_closed_mean"].dims == ("time", "scenario")
    assert np.isnan(ds["share_closed_mean"].values[12:, 0]).all()
PY

# --- a format-1 file exports to the same layout ----------------------------------------------
check "export a format-1 file" "$MOATSIM" export "$ROOT/tests/python/data/v1_grid.h5" -o "$TMP/v1"
check "format 1: CF time in days, parameters by CF name" "$PYTHON" - "$TMP/v1" <<'PY'
import sys
import netCDF4
import numpy as np
with netCDF4.Dataset(f"{sys.argv[1]}/v1_grid_market.nc") as d:
    assert d["time"].units.startswith("days since") and d.dimensions["time"].isunlimited()
    np.testing.assert_allclose(d["time"][:], np.arange(6) * 30.0, rtol=0, atol=1e-9)
    assert d.seed == "20261201"
    assert np.asarray(d.n_scenarios).dtype == np.int32  # format 1's 64-bit integer attributes: 32 bits
with netCDF4.Dataset(f"{sys.argv[1]}/v1_grid_params.nc") as d:
    assert d["quality_gap_long_run"].key == "quality_gap.long_run"
    assert np.asarray(d["quality_gap_long_run"].swept).dtype == np.int32
PY
check "cdo sinfon on a format-1 export" sh -c "cdo sinfon '$TMP/v1/v1_grid_market.nc' | grep -q 'time : 6 steps'"

# --- errors: exit code and message ----------------------------------------------------------
expect "outputs exist without --force" 2 "pass --force to replace it" "$MOATSIM" export "$H5" -o "$OUT"
check "--force replaces them" "$MOATSIM" export "$H5" -o "$OUT" --force
expect "missing file" 2 "cannot open '$TMP/none.h5'" "$MOATSIM" export "$TMP/none.h5" -o "$OUT"
echo "not HDF5" >"$TMP/text.h5"
expect "not a results file" 2 "is not a moatsim results file" "$MOATSIM" export "$TMP/text.h5" -o "$TMP/x"
check "no directory made for a bad file" test ! -e "$TMP/x"
expect "no -o" 2 "give -o DIR" "$MOATSIM" export "$H5"
expect "-o is a file" 2 "is not a directory" "$MOATSIM" export "$H5" -o "$TMP/text.h5"
check "--help" "$MOATSIM" export --help
check "no .partial left" sh -c "! ls '$OUT' | grep -q partial"
finish
