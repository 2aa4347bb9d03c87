"""moatsim sensitivity / discover end to end: the CLI and analysis.sensitivity agree, a parameter
without effect gets S_T = 0 [0, 0] under common random numbers, the long-run gap dominates the
10-year premium, bad input exits 2, the Saltelli design shards and merges, the sidecar opens with
named dims.

The estimators themselves are checked against analytic answers (Ishigami, G function, known
elementary effects, a planted box) in tests/test_sensitivity.c.
"""
import pathlib

import h5py
import numpy as np
import pytest
import xarray as xr

from analysis import sensitivity as sa
from conftest import DATA, REPO, run_moatsim

SALTELLI = REPO / "tests" / "data" / "saltelli3.cfg"
GAP, RATE, DECLINE = "quality_gap.long_run", "valuation.discount_rate", "price_compression.cost_decline_per_year"
OUTPUTS = ["premium_flagship@10y", "labs/dcf_ratio[closed-a]", "premium_flagship@10y:median",
           "labs/price[closed-a]@5y:p95"]
WHERE = "premium_flagship@10y < 30"


@pytest.fixture(scope="module")
def saltelli_file(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("saltelli") / "saltelli3.h5"
    run_moatsim(["run", SALTELLI, "-o", out, "--quiet"])
    return out


@pytest.fixture(scope="module")
def morris_file(tmp_path_factory) -> pathlib.Path:
    """The same model as a Morris design: 8 trajectories of 4 points, 2 years, 4 paths."""
    d = tmp_path_factory.mktemp("morris")
    text = SALTELLI.read_text().split("sweep = {")[0] + (
        'sweep = { method = "morris"; samples = 8; levels = 4; axes = (\n'
        f'  {{ param = "{GAP}"; min = 0.005; max = 0.15; log = true; }},\n'
        f'  {{ param = "{RATE}"; min = 0.05; max = 0.2; }},\n'
        f'  {{ param = "{DECLINE}"; min = 0.2; max = 0.6; }} ); }};\n')
    cfg = d / "morris3.cfg"
    cfg.write_text(text)
    out = d / "morris3.h5"
    run_moatsim(["run", cfg, "-o", out, "--quiet", "--paths", 4, "--set", "horizon_years=2"])
    return out


@pytest.fixture(scope="module")
def cli_sensitivity(saltelli_file, tmp_path_factory):
    side = tmp_path_factory.mktemp("side") / "s.h5"
    proc = run_moatsim(["sensitivity", saltelli_file, *sum((["--output", o] for o in OUTPUTS), []), "-o", side])
    ds = xr.open_dataset(side, group="analysis")
    yield proc, ds
    ds.close()


def test_cli_prints_a_ranked_table(cli_sensitivity):
    out = cli_sensitivity[0].stdout
    assert "saltelli design, 16 base rows, 3 parameters, 80 scenarios" in out
    block = out.split("output premium_flagship@10y ")[1].split("\noutput")[0]
    lines = [l.split() for l in block.splitlines() if l.strip()[:1].isdigit()]
    assert [l[0] for l in lines] == ["1", "2", "3"] and lines[0][1] == GAP


def test_python_gives_the_cli_numbers(saltelli_file, cli_sensitivity):
    cli = cli_sensitivity[1]
    py = sa.sensitivity(str(saltelli_file), OUTPUTS)
    assert list(cli.output.values) == OUTPUTS and list(cli.parameter.values) == [GAP, RATE, DECLINE]
    for v in ("ST", "ST_conf", "S1", "S1_conf", "variance", "noise_variance", "rank"):
        np.testing.assert_allclose(np.asarray(py[v]), np.asarray(cli[v]), rtol=1e-10, atol=1e-12, err_msg=v)


def test_sidecar_has_named_dims(cli_sensitivity):
    ds = cli_sensitivity[1]
    assert ds.ST.dims == ("output", "parameter") and ds.ST_conf.dims == ("output", "parameter", "bound")
    assert list(ds.bound.values) == ["low", "high"] and ds.attrs["method"] == "saltelli"
    assert float(ds.ST.sel(output="premium_flagship@10y", parameter=GAP)) > 0


def test_no_effect_parameter_and_the_gap_dominates(saltelli_file, cli_sensitivity):
    """valuation.discount_rate enters only the discounted cash flow computed at the end of a path
    (MODEL.md §7; sim/model/finance.c is its only reader): no price, share or premium depends on it. The
    file uses common random numbers (recorded in /params), so path p of scenarios A and A_B^i
    draws the same numbers, and with i the discount rate f(A_B^i) = f(A) to the bit for every
    premium statistic: every Jansen term and every S_i term is 0, in every bootstrap resample, so
    S_T = S_i = 0 with the interval [0, 0], exactly, not by a margin. The paths' noise correction
    must be off (noise_variance 0): with shared draws the noise is not independent between
    scenarios. The long-run gap carries the premium: its S_T's interval lies above the other two
    S_T estimates. Positive control: the discount rate is what moves the DCF ratio (its S_T
    interval excludes 0)."""
    with h5py.File(saltelli_file, "r") as f:
        assert int(f["params"].attrs["sweep_common_random_numbers"]) == 1
    ds = cli_sensitivity[1]
    for out in ("premium_flagship@10y", "premium_flagship@10y:median"):
        prem = ds.sel(output=out)
        assert float(prem.noise_variance) == 0.0
        assert float(prem.ST.sel(parameter=RATE)) == 0.0 and float(prem.S1.sel(parameter=RATE)) == 0.0
        assert (prem.ST_conf.sel(parameter=RATE).values == 0.0).all()
        assert (prem.S1_conf.sel(parameter=RATE).values == 0.0).all()
    prem = ds.sel(output="premium_flagship@10y")
    assert prem.ST_conf.sel(parameter=GAP, bound="low") > max(prem.ST.sel(parameter=RATE), prem.ST.sel(parameter=DECLINE))
    assert int(prem["rank"].sel(parameter=GAP)) == 1
    dcf = ds.sel(output="labs/dcf_ratio[closed-a]")
    assert dcf.ST_conf.sel(parameter=RATE, bound="low") > 0 and int(dcf["rank"].sel(parameter=RATE)) == 1


def test_discover_cli_and_python_agree(saltelli_file, tmp_path):
    side = tmp_path / "d.h5"
    proc = run_moatsim(["discover", saltelli_file, "--where", WHERE, "-o", side])
    assert "peeling trajectory" in proc.stdout and "box (step" in proc.stdout
    cli = xr.open_dataset(side, group="analysis")
    py = sa.discover(str(saltelli_file), WHERE)
    assert cli.attrs["chosen_step"] == py.attrs["chosen_step"] and cli.sizes == py.sizes
    for v in ("coverage", "density", "mass", "n", "n_hit", "restricted", "pasted", "limits", "box_limits", "quasi_p"):
        np.testing.assert_allclose(np.asarray(py[v], float), np.asarray(cli[v], float), rtol=1e-12, err_msg=v)
    # coverage and density as defined, recomputed from the file
    y, _ = sa.read_output(str(saltelli_file), "premium_flagship@10y")
    x = sa.read_design(str(saltelli_file))["x"]
    box = cli.box_limits.values
    inb = ((x >= box[:, 0]) & (x <= box[:, 1])).all(axis=1)
    assert cli.attrs["box_density"] == pytest.approx((y[inb] < 30).mean())
    assert cli.attrs["box_coverage"] == pytest.approx((y[inb] < 30).sum() / (y < 30).sum())
    cli.close()


def test_morris_cli_and_python_agree(morris_file, tmp_path):
    side = tmp_path / "m.h5"
    proc = run_moatsim(["sensitivity", morris_file, "--output", "premium_flagship@2y", "-o", side])
    assert "morris design, 8 trajectories" in proc.stdout
    cli = xr.open_dataset(side, group="analysis")
    py = sa.sensitivity(str(morris_file), ["premium_flagship@2y"])
    for v in ("mu_star", "mu_star_conf", "mu", "sigma", "rank"):
        np.testing.assert_allclose(np.asarray(py[v]), np.asarray(cli[v]), rtol=1e-10, atol=1e-12, err_msg=v)
    # mu* is the mean of |EE| over the 8 trajectories: at least |mu|, the mean of EE
    assert (cli.mu_star.values >= np.abs(cli.mu.values) - 1e-12).all()
    cli.close()


def _fails(args, *needles):
    proc = run_moatsim(args, check=False)
    assert proc.returncode == 2, proc.stderr
    for n in needles:
        assert n in proc.stderr, proc.stderr
    return proc


def test_bad_input_exits_2(saltelli_file, morris_file, lhs_file, tmp_path):
    _fails(["sensitivity", saltelli_file, "--output", "premium_flagshp@10y", "-o", tmp_path / "a.h5"],
           "no metric 'premium_flagshp'", "premium_flagship", "share_closed")
    _fails(["sensitivity", saltelli_file, "--output", "labs/price[closed-z]@5y", "-o", tmp_path / "a.h5"],
           "closed-z", "closed-a, closed-b, open-a")
    _fails(["sensitivity", saltelli_file, "--output", "premium_flagship@10y:p42", "-o", tmp_path / "a.h5"],
           "no quantile at level 0.42", "p5, p25, p50, p75, p95")
    _fails(["sensitivity", saltelli_file, "--output", "premium_flagship@30y", "-o", tmp_path / "a.h5"],
           "outside the file's time axis")
    _fails(["sensitivity", lhs_file, "--output", "premium_flagship@1y", "-o", tmp_path / "a.h5"],
           "holds a lhs sweep", "saltelli", "morris")
    _fails(["discover", saltelli_file, "--where", "premium_flagship@10y < -1", "-o", tmp_path / "a.h5"],
           "holds in none of the 80 scenarios")
    _fails(["discover", saltelli_file, "--where", "premium_flagship@10y > -1", "-o", tmp_path / "a.h5"],
           "holds in all of the 80 scenarios")
    _fails(["discover", morris_file, "--where", "premium_flagship@2y < 30", "-o", tmp_path / "a.h5"],
           "at least 50 scenarios")
    _fails(["discover", saltelli_file, "--where", "premium_flagship@10y", "-o", tmp_path / "a.h5"],
           "no comparison")
    assert not (tmp_path / "a.h5").exists() and not (tmp_path / "a.h5.partial").exists()


def test_the_input_is_never_modified(saltelli_file, tmp_path):
    before = saltelli_file.read_bytes()
    _fails(["sensitivity", saltelli_file, "--output", "premium_flagship@10y", "-o", saltelli_file, "--force"],
           "is the results file itself")
    side = tmp_path / "s.h5"
    side.write_text("keep")
    _fails(["sensitivity", saltelli_file, "--output", "premium_flagship@10y", "-o", side], "exists", "--force")
    assert side.read_text() == "keep" and saltelli_file.read_bytes() == before


def test_saltelli_design_shards_and_merges(tmp_path):
    """Three shards of the design, merged, equal the unsharded run dataset by dataset."""
    small = ["--paths", 2, "--set", "horizon_years=1", "--quiet"]
    run_moatsim(["run", SALTELLI, "-o", tmp_path / "all.h5", *small])
    for i in range(3):
        run_moatsim(["run", SALTELLI, "-o", tmp_path / f"p{i}.h5", "--shard", f"{i}/3", *small])
    run_moatsim(["merge", *(tmp_path / f"p{i}.h5" for i in range(3)), "-o", tmp_path / "merged.h5"])
    with h5py.File(tmp_path / "all.h5") as a, h5py.File(tmp_path / "merged.h5") as b:
        names = []
        a.visit(lambda n: names.append(n) if isinstance(a[n], h5py.Dataset) else None)
        assert len(names) > 100
        for n in names:
            np.testing.assert_array_equal(a[n][...], b[n][...], err_msg=n)
        assert sa._text(b["params"].attrs["sweep_method"]) == "saltelli"
        assert int(b["params"].attrs["sweep_samples"]) == 16


def test_report_has_the_sensitivity_and_prim_pages(saltelli_file, morris_file, tmp_path):
    from analysis import report

    index = pathlib.Path(report.write(str(saltelli_file), str(tmp_path / "s")))
    page = index.read_text()
    assert "Sensitivity: premium_flagship@10y" in page and "Scenario discovery: premium_flagship@10y" in page
    for name in ("sobol_0.png", "sobol_1.png", "prim.png"):
        assert (tmp_path / "s" / name).stat().st_size > 1000
    index = pathlib.Path(report.write(str(morris_file), str(tmp_path / "m")))
    assert "Screening: premium_flagship@2y" in index.read_text() and (tmp_path / "m" / "morris_0.png").exists()
    assert "Scenario discovery" not in index.read_text()  # 32 scenarios: too few for PRIM
