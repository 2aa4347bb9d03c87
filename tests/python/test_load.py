"""analysis.load on real result files: groups, shapes, coordinates, selection, tidy export,
and the summaries checked against the raw paths of the same file."""
import shutil
import warnings

import h5py
import numpy as np
import pytest

import analysis
from analysis.load import string_param, time_in_years
from conftest import (DATA, CLOUDS, GRID_AXES, HORIZON_YEARS, LAB_KINDS, LAB_ORIGINS, LABS, LHS_AXES,
                      LHS_SAMPLES, LIST_HORIZONS, PATHS, QUANTILES, STEPS_PER_YEAR)

T = round(HORIZON_YEARS * STEPS_PER_YEAR)
S_GRID = len(GRID_AXES[0][1]) * len(GRID_AXES[1][1])


def test_groups_and_dimensions(grid):
    assert {"market", "labs", "clouds", "params", "paths/market", "paths/labs", "paths/clouds"} <= set(grid.groups)
    assert dict(grid.market.dims) == {"scenario": S_GRID, "time": T, "quantile": len(QUANTILES)}
    assert grid.labs.dims["lab"] == len(LABS)
    assert grid.clouds.dims["cloud"] == len(CLOUDS)
    assert grid["paths/market"].dims["path"] == PATHS
    assert grid.market["premium_flagship_quantile"].dims == ("scenario", "quantile", "time")
    assert grid.labs["rerating_quantile"].dims == ("scenario", "quantile", "lab", "time")
    assert grid.labs["dcf_ratio_mean"].dims == ("scenario", "lab")
    assert grid.market["lab_exits_mean"].dims == ("scenario",)


def test_time_is_in_years(grid):
    # Step n stands for t = n * dt, dt = 1 / steps_per_year (MODEL.md §1).
    for g in ("market", "labs", "clouds"):
        np.testing.assert_allclose(grid[g]["time"].values, np.arange(T) / STEPS_PER_YEAR, rtol=0, atol=1e-12)
        assert grid[g]["time"].attrs["units"] == "years"
    np.testing.assert_allclose(grid.market["quantile"].values, QUANTILES)


def test_lab_and_cloud_names(grid, lhs):
    for res in (grid, lhs):
        assert [str(v) for v in res.labs["lab"].values] == LABS
        assert [str(v) for v in res.labs["lab_kind"].values] == LAB_KINDS
        assert [str(v) for v in res.labs["lab_origin"].values] == LAB_ORIGINS
        assert [str(v) for v in res.clouds["cloud"].values] == CLOUDS
        assert res.closed_labs == [n for n, k in zip(LABS, LAB_KINDS) if k == "closed"]


def test_grid_sweep_parameters_are_scenario_coordinates(grid):
    # A grid is the Cartesian product with the last axis varying fastest (sweep.h).
    (k0, v0), (k1, v1) = GRID_AXES
    assert grid.swept == [k0, k1]
    assert grid.sweep_method == "grid"
    np.testing.assert_allclose(grid.market[k0].values, np.repeat(v0, len(v1)))
    np.testing.assert_allclose(grid.market[k1].values, np.tile(v1, len(v0)))
    for g in ("labs", "clouds", "params", "paths/labs"):
        np.testing.assert_allclose(grid[g][k1].values, np.tile(v1, len(v0)))
    assert int(grid.params[k0].attrs["swept"]) == 1


def one_per_stratum(unit):
    """Latin hypercube: exactly one sample in each of the n equal strata of [0, 1]."""
    strata = np.floor(unit * LHS_SAMPLES).clip(0, LHS_SAMPLES - 1)
    assert sorted(strata.astype(int)) == list(range(LHS_SAMPLES))


def dyadic(unit):
    """Every axis of a Sobol sequence runs through the dyadic fractions: its first 2^m points,
    origin included, are k / 2^m for k = 0 .. 2^m - 1. GSL's generator skips the origin, so the
    first 7 points are 1/8 .. 7/8 in some order."""
    np.testing.assert_allclose(np.sort(unit[:7] * 8), np.arange(1, 8), rtol=0, atol=1e-9)


@pytest.mark.parametrize("design, check", [("lhs", one_per_stratum), ("sobol", dyadic)])
def test_sampled_sweeps_fill_their_ranges(design, check, request):
    res = request.getfixturevalue(design)
    assert res.swept == [k for k, _, _ in LHS_AXES]
    assert res.sweep_method == design
    assert res.n_scenarios == LHS_SAMPLES
    for key, lo, hi in LHS_AXES:
        x = res.param(key)
        assert np.all((x >= lo) & (x <= hi)), key
        check((x - lo) / (hi - lo))


def test_horizon_is_each_scenarios_last_step(list_file):
    # Scenarios of different horizons share the longest time axis; shorter ones are NaN-padded
    # with count 0 (output.md), and the horizon is step round(years * steps_per_year) - 1.
    with analysis.load(list_file) as res:
        assert res.sweep_method == "list" and res.swept[0] == "horizon_years"
        last = [round(h * STEPS_PER_YEAR) - 1 for h in LIST_HORIZONS]
        assert list(res.last_step()) == last
        with h5py.File(list_file, "r") as f:
            mean = f["market/share_closed_mean"][()]
            count = f["market/share_closed_count"][()]
        assert res.market.dims["time"] == last[-1] + 1
        assert np.all(count[0, last[0] + 1:] == 0) and np.all(np.isnan(mean[0, last[0] + 1:]))
        h = res.horizon("share_closed")
        np.testing.assert_array_equal(h.values, [mean[s, t] for s, t in enumerate(last)])
        np.testing.assert_allclose(h["time"].values, np.array(last) / STEPS_PER_YEAR)
        assert np.all(np.isfinite(h.values))


def test_select_scenarios_by_parameter_value(grid):
    (k0, v0), (k1, v1) = GRID_AXES
    sub = grid.sel(**{k0: v0[1]})
    assert list(sub.market["scenario"].values) == [2, 3]
    np.testing.assert_allclose(sub.params[k0].values, [v0[1], v0[1]])
    one = grid.where_param(**{k0: v0[0], k1: v1[1]})
    assert list(one.market["scenario"].values) == [1]
    np.testing.assert_array_equal(one.market["premium_flagship_mean"].values[0],
                                  grid.market["premium_flagship_mean"].values[1])
    with pytest.raises(KeyError, match="no scenario has this value"):
        grid.sel(**{k0: 0.5})
    with pytest.raises(KeyError, match="neither a parameter nor a dimension"):
        grid.sel(colour=1)


def test_select_dimensions(grid):
    sub = grid.sel(lab="closed-a", time=1.0, method="nearest")
    assert sub.labs["rerating_mean"].dims == ("scenario",)
    assert float(sub.labs["time"]) == pytest.approx(1.0)
    assert sub.clouds["price_mean"].dims == ("scenario", "cloud")


def test_both_engines_read_the_same_values_and_default_has_no_warnings(grid_file):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        default = analysis.load(grid_file)
    a = analysis.load(grid_file, engine="h5netcdf")
    b = analysis.load(grid_file, engine="netcdf4")
    try:
        assert default.engine in ("h5netcdf", "netcdf4")
        assert set(a.groups) == set(b.groups)
        for g in a.groups:
            assert set(a[g].variables) == set(b[g].variables), g
            for name in a[g].variables:
                x, y = a[g][name].values, b[g][name].values
                if x.dtype.kind in "OUS":
                    assert [str(v) for v in x.ravel()] == [str(v) for v in y.ravel()], (g, name)
                else:
                    np.testing.assert_array_equal(x, y, err_msg=f"{g}/{name}")
    finally:
        for r in (default, a, b):
            r.close()


def test_every_variable_has_units_and_long_name_and_floats_fill_with_nan(grid_file):
    # CF-1.10 (format 2): long_name everywhere, units on every non-text variable and on none of
    # the text ones, _FillValue = NaN on float data and on no coordinate.
    with h5py.File(grid_file, "r") as f:
        def check(name, obj):
            if isinstance(obj, h5py.Dataset):
                assert "long_name" in obj.attrs, name
                text = obj.dtype.kind == "O"
                assert ("units" in obj.attrs) != text, name
                scale = obj.attrs.get("CLASS") == b"DIMENSION_SCALE"
                if obj.dtype.kind == "f" and not scale:
                    assert np.isnan(obj.attrs["_FillValue"]), name
                if scale:
                    assert "_FillValue" not in obj.attrs, name
        f.visititems(check)
        for key in ("Conventions", "format_version", "moatsim_version", "git_revision", "seed",
                    "command_line", "start_time", "n_scenarios", "paths"):
            assert key in f.attrs, key
        assert int(f.attrs["format_version"]) == 2
        assert "scenario_text" in f and "scenario_text" not in f.attrs


def test_format_2_params_are_cf_names_read_back_by_key(grid_file, grid):
    # /params in the file: no dots in names, the dotted key as `key`; load() gives them back
    # under the dotted keys, text parameters as attributes, as format 1 had them.
    with h5py.File(grid_file, "r") as f:
        p = f["params"]
        assert not [n for n in p if "." in n or "-" in n]
        assert p["quality_gap_long_run"].attrs["key"] == b"quality_gap.long_run"
        assert p["labs_closed_a_kind"].asstr()[()] == '"closed"'
        text = f["scenario_text"].asstr()[()]
        seed = f.attrs["seed"]
    assert "quality_gap.long_run" in grid.params and "quality_gap_long_run" not in grid.params
    assert string_param(grid.params.attrs["labs.closed-a.kind"]) == "closed"
    assert grid.attrs["scenario_text"] == text and 'name = "pytest-grid"' in text
    assert int(grid.attrs["seed"]) == int(seed) == 20261201


# A file of format 1 (time in years, dotted /params names, text parameters and the scenario
# text as attributes, 64-bit seed), written by moatsim at git f1322d9 from data/grid.cfg with
# --paths 4 --set enterprises.count=40 --set horizon_years=0.5 (6 monthly steps).
V1_FILE = DATA / "v1_grid.h5"
# parameters added to the table after the revision that wrote V1_FILE
NEW_SINCE_V1_FILE = {"enterprises.host_similarity", "enterprises.value_price_elasticity",
                     "price_compression.cost_per_quality_point", "labs.closed-a.training_returns",
                     "labs.closed-b.training_returns"}


def test_format_1_file_loads_as_format_2(grid):
    with h5py.File(V1_FILE, "r") as f:
        assert int(f.attrs["format_version"]) == 1 and f.attrs["seed"].dtype == np.uint64
        assert "quality_gap.long_run" in f["params"] and "scenario_text" in f.attrs
        years = f["market/time"][()]
        gap = f["params/quality_gap.long_run"][()]
    with analysis.load(V1_FILE) as v1:
        np.testing.assert_allclose(v1.time, np.arange(6) / STEPS_PER_YEAR, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(v1.time, years)
        assert v1.swept == grid.swept and v1.sweep_method == "grid"
        np.testing.assert_array_equal(v1.param("quality_gap.long_run"), gap)
        assert string_param(v1.params.attrs["labs.closed-a.kind"]) == "closed"
        assert 'name = "pytest-grid"' in v1.attrs["scenario_text"]
        assert int(v1.attrs["seed"]) == 20261201
        # the same views as a format 2 file: dims, coordinates, names
        assert v1.market["premium_flagship_quantile"].dims == grid.market["premium_flagship_quantile"].dims
        # the same parameters, but for those added to the table since f1322d9 (a file of that
        # revision cannot hold them)
        assert set(v1.params.data_vars) <= set(grid.params.data_vars)
        assert set(grid.params.data_vars) - set(v1.params.data_vars) <= NEW_SINCE_V1_FILE
        assert set(v1.params.attrs) - {"swept_variables"} <= set(grid.params.attrs)
        assert v1.horizon("share_closed").sizes["scenario"] == 4


def test_time_years_of_both_formats():
    # Hand values: 360-day years, days 0, 30, ..., 330 are 0, 1/12, ..., 11/12 years.
    days = np.arange(12) * 30.0
    np.testing.assert_allclose(time_in_years(days, "days since 2026-01-01 00:00:00"),
                               np.arange(12) / 12, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(time_in_years([0.5, 1.0], "years"), [0.5, 1.0])


def test_tidy_dataframe(grid):
    Q, L = len(QUANTILES), len(LABS)
    k0, k1 = GRID_AXES[0][0], GRID_AXES[1][0]
    df = grid.to_dataframe("market", "premium_flagship")
    assert list(df.columns) == ["scenario", k0, k1, "time", "stat", "value"]
    assert len(df) == S_GRID * T * (3 + Q)
    assert set(df["stat"]) == {"mean", "std", "count"} | {f"q{q:g}" for q in QUANTILES}
    means = df[df["stat"] == "mean"].pivot(index="scenario", columns="time", values="value")
    np.testing.assert_array_equal(means.values, grid.market["premium_flagship_mean"].values)
    med = df[df["stat"] == "q0.5"].pivot(index="scenario", columns="time", values="value")
    np.testing.assert_array_equal(med.values, grid.market["premium_flagship_quantile"].values[:, 2, :])
    # the parameter columns follow the scenario: (last axis fastest)
    np.testing.assert_allclose(df[k1].values, np.tile(GRID_AXES[1][1], 2)[df["scenario"].values])

    labs = grid.to_dataframe("labs", "rerating")
    assert list(labs.columns) == ["scenario", k0, k1, "time", "lab", "stat", "value"]
    assert len(labs) == S_GRID * L * T * (3 + Q)
    dcf = grid.to_dataframe("labs", "dcf_ratio")
    assert list(dcf.columns) == ["scenario", k0, k1, "lab", "stat", "value"]
    assert len(dcf) == S_GRID * L * (3 + Q)
    paths = grid.to_dataframe("paths/market", "share_closed")
    assert len(paths) == S_GRID * PATHS * T and set(paths["stat"]) == {"path"}


def test_summaries_agree_with_the_kept_paths(grid):
    # The summaries are mean, sample standard deviation, non-NaN count and quantiles with
    # linear interpolation between order statistics over the paths (MODEL.md §8); recompute
    # them from /paths with numpy. Same doubles, only the summation order may differ: rtol 1e-12.
    pm, pl = grid["paths/market"], grid["paths/labs"]
    for ds_sum, ds_path, metric, axis in ((grid.market, pm, "premium_flagship", 1),
                                          (grid.market, pm, "share_closed", 1),
                                          (grid.labs, pl, "rerating", 1),
                                          (grid.labs, pl, "price_mini", 1),
                                          (grid.labs, pl, "dcf_ratio", 1)):
        x = ds_path[metric].values
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices (open labs' price_mini)
            mean = np.nanmean(x, axis=axis)
            std = np.nanstd(x, axis=axis, ddof=1)
            q = np.moveaxis(np.nanquantile(x, QUANTILES, axis=axis), 0, 1)
        count = np.sum(np.isfinite(x), axis=axis)
        np.testing.assert_array_equal(ds_sum[f"{metric}_count"].values, count, err_msg=metric)
        np.testing.assert_allclose(ds_sum[f"{metric}_mean"].values, mean, rtol=1e-12, atol=1e-300, err_msg=metric)
        ok = count > 1
        np.testing.assert_allclose(ds_sum[f"{metric}_std"].values[ok], std[ok], rtol=1e-9, atol=1e-12,
                                   err_msg=metric)
        np.testing.assert_allclose(ds_sum[f"{metric}_quantile"].values, q, rtol=1e-12, atol=1e-300, err_msg=metric)


def test_volume_shares_add_up_to_one_on_every_path(grid):
    # The four volume shares partition all tokens (MODEL.md §8): their sum is 1 up to rounding.
    pm = grid["paths/market"]
    total = sum(pm[m].values for m in ("share_closed", "share_open_cloud", "share_open_first_party", "share_local"))
    np.testing.assert_allclose(total, 1.0, rtol=0, atol=1e-9)


def test_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="moatsim run"):
        analysis.load(tmp_path / "nope.h5")


def test_a_file_that_is_not_hdf5_is_named(tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_text("not a results file\n")
    with pytest.raises(OSError, match="junk.h5: not a readable HDF5 file"):
        analysis.load(junk)


def test_an_hdf5_file_without_the_groups_is_named(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_group("market")
    with pytest.raises(OSError, match=r"other.h5: not a complete moatsim result file: group\(s\) /labs"):
        analysis.load(other)


def test_unfinished_scenarios_are_reported(grid_file, tmp_path):
    partial = tmp_path / "partial.h5"
    shutil.copy(grid_file, partial)
    with h5py.File(partial, "r+") as f:
        f["market/scenario_done"][2] = 0
    with pytest.warns(UserWarning, match=r"scenario\(s\) 2 not written yet"):
        analysis.load(partial).close()


def test_to_dataframe_of_paths_without_kept_paths_says_why(lhs):
    with pytest.raises(analysis.MissingGroupError) as err:
        lhs.to_dataframe("paths/market", "premium_flagship")
    assert isinstance(err.value, KeyError)  # still a KeyError for callers that catch one
    text = str(err.value)
    assert text.startswith(f"{lhs.path} has no group /paths/market") and "--keep-paths" in text
