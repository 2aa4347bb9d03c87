"""The scenario library: every file is a valid scenario that differs from the baseline only where
it says; the baseline starts inside the calibration targets of docs/calibration.md; and the
library's comparative results hold.

Sample sizes. The figures at t = 0 vary across paths only through the enterprise draws, so 16
paths pin their means far more tightly than the target ranges are wide. The first-year growth
figures also move with releases and price wars: across 64 baseline paths the first-year growth
of the closed labs' ARR has a standard deviation of 0.12 (mean 2.24x) and token growth of 0.13
(mean 2.87x), so the means of 16 paths have standard errors of ~0.03, more than twenty standard
errors inside their ranges (1.5x-3x and 2x-7x). The decline of the price of constant capability
over the first year is not asserted: it hinges on whether an open release reaches the initial
frontier within the year (per path it ranges from 1.2x to 150x, mean 25x, sd 18), so 16 paths do
not pin it; docs/calibration.md reports it from 160 paths. The comparative
checks run each scenario with 24 paths of 300 enterprises over 5 years, keep every path, and
apply a one-sided Mann-Whitney U test at ALPHA = 0.001 to the per-path values at the last step
(one test reads the closed labs' re-rating after one year, while the gap is still closing).
A rank test, because dilution, premiums and re-ratings are heavy-tailed (a few paths dominate
the means, so a z-test on means would need thousands of paths). With 24 + 24 paths the smallest
attainable p is 1/C(48, 24) ~ 3e-14, and p < 0.001 needs the two samples to overlap little
(16 paths each proved too few for the capital crunch, p = 0.0014, because a few crunch paths end
with the closed labs exiting before they dilute): the effects tested are structural (gap 0.5 % vs 10 %, restricted share 25 % vs 80 %,
training growth 120 % vs 40 %), and a failure means the mechanism broke, not bad luck. The
seeds are fixed, so the outcome is deterministic.
"""
import os
import pathlib
import shutil
import subprocess

import numpy as np
import pytest

from analysis import calibration as cal

REPO = pathlib.Path(__file__).resolve().parents[2]
SCEN = REPO / "scenarios"
LIBRARY = ["gap-collapses", "gap-compounds", "price-war", "local-surge", "capital-crunch",
           "export-controls", "sweep-gap-local", "uncertainty", "drivers"]
SINGLE = ["baseline", "gap-collapses", "gap-compounds", "price-war", "local-surge",
          "capital-crunch", "export-controls"]
PATHS = 16  # paths of the start-of-run check
RUN_PATHS, COUNT, YEARS = 24, 300, 5.0  # paths, enterprises and years of the comparative runs
ALPHA = 1e-3  # one-sided significance level of the comparative rank tests


def binary() -> str:
    exe = os.environ.get("MOATSIM") or str(REPO / "bin" / "moatsim")
    if not os.access(exe, os.X_OK):
        pytest.fail(f"MOATSIM = {exe} is not an executable file: build it with `make`")
    return exe


def moatsim(*args, check=True):
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    proc = subprocess.run([binary(), *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=900)
    if check and proc.returncode != 0:
        pytest.fail(f"moatsim {' '.join(map(str, args))} exited with {proc.returncode}:\n{proc.stderr}")
    return proc


# ------------------------------------------------------------------------------------------
# The library files themselves.
# ------------------------------------------------------------------------------------------
def test_library_is_complete():
    names = sorted(p.stem for p in SCEN.glob("*.cfg"))
    assert "baseline" in names
    for name in LIBRARY:
        assert name in names, f"scenarios/{name}.cfg is missing from the library"


@pytest.mark.parametrize("name", ["baseline", *LIBRARY])
def test_file_validates(name):
    moatsim("validate", SCEN / f"{name}.cfg")


@pytest.mark.parametrize("name", LIBRARY)
def test_file_states_its_question(name):
    path = SCEN / f"{name}.cfg"
    assert cal.question_of(str(path)).endswith("?"), f"{path}: no '# question: ...?' in the opening comment"
    assert cal.declared_keys(str(path)), f"{path}: no '# differs:' line in the opening comment"


def test_library_differs_from_baseline_only_where_declared():
    assert cal.check_library() == []


def test_check_library_catches_an_undeclared_change(tmp_path, monkeypatch):
    """The consistency check is not vacuous: an extra change, or a declared change that is not
    made, is reported."""
    shutil.copy(SCEN / "baseline.cfg", tmp_path / "baseline.cfg")
    text = (SCEN / "price-war.cfg").read_text()
    (tmp_path / "price-war.cfg").write_text(text.replace("review_per_year = 2.0", "review_per_year = 3.0"))
    (tmp_path / "gap-collapses.cfg").write_text(
        (SCEN / "baseline.cfg").read_text().replace('name = "baseline"', 'name = "x"')
        + "\n# differs: quality_gap.long_run (0.03 -> 0.005)\n")
    monkeypatch.setattr(cal, "SCENARIOS", str(tmp_path))
    monkeypatch.setattr(cal, "BASELINE", str(tmp_path / "baseline.cfg"))
    problems = cal.check_library()
    assert any("price-war.cfg: enterprises.review_per_year differs" in p for p in problems), problems
    assert any("gap-collapses.cfg: declares quality_gap.long_run" in p for p in problems), problems


def test_derive_library_carries_a_recalibration(tmp_path, monkeypatch):
    """After a change to the baseline, derive-library rewrites each library file so that it
    takes the new baseline value and keeps its own declared changes and sweep."""
    for p in SCEN.glob("*.cfg"):
        shutil.copy(p, tmp_path / p.name)
    base = tmp_path / "baseline.cfg"
    base.write_text(base.read_text().replace("review_per_year = 2.0", "review_per_year = 3.0"))
    monkeypatch.setattr(cal, "SCENARIOS", str(tmp_path))
    monkeypatch.setattr(cal, "BASELINE", str(base))
    assert any("review_per_year differs" in p for p in cal.check_library())
    cal.derive_library()
    assert cal.check_library() == []
    war = cal.flatten(cal.read_cfg(str(tmp_path / "price-war.cfg")))
    assert war["enterprises.review_per_year"] == pytest.approx(3.0)
    assert war["price_compression.price_war_depth"] == pytest.approx(0.85)
    grid = cal.flatten(cal.read_cfg(str(tmp_path / "sweep-gap-local.cfg")))
    assert "quality_gap.long_run" in grid["sweep.axes"]
    assert (tmp_path / "uncertainty.cfg").read_text() != ""
    moatsim("validate", tmp_path / "uncertainty.cfg")


def test_reader_flattens_labs_by_name():
    flat = cal.flatten(cal.read_cfg(str(SCEN / "baseline.cfg")))
    assert flat["quality_gap.initial"] == pytest.approx(0.04)
    kinds = {k.split(".")[1]: v for k, v in flat.items() if k.startswith("labs.") and k.endswith(".kind")}
    assert sorted(set(kinds.values())) == ["closed", "open"]


# ------------------------------------------------------------------------------------------
# The baseline's start inside the calibration targets.
# ------------------------------------------------------------------------------------------
# The start of the run: targets judged at t = 0, the configured inputs, and the growth of ARR and
# tokens over the first year. The first-year price decline (see the module docstring) and the
# target judged over years 5–10 (the closed labs' value, which needs a ten-year run) are
# reported in docs/calibration.md, not asserted here.
FIRST_YEAR = ("closed labs' ARR growth", "token volume growth")
START = [i for i, t in enumerate(cal.TARGETS)
         if t.judge in ("t0", "input") or (t.judge == "1y" and t.figure.startswith(FIRST_YEAR))]


@pytest.fixture(scope="module")
def baseline_start(tmp_path_factory):
    out = tmp_path_factory.mktemp("calib") / "baseline.h5"
    # 1.1 years: the last step is t = 1 (13 monthly steps), where the first-year figures are read.
    moatsim("run", SCEN / "baseline.cfg", "-o", out, "--paths", PATHS, "--set", "horizon_years=1.1",
            "--quiet", "--force")
    return cal.evaluate(cal.Summary(str(out)), cal.flatten(cal.read_cfg(str(SCEN / "baseline.cfg"))))


@pytest.mark.parametrize("index", START, ids=[cal.TARGETS[i].figure[:40] for i in START])
def test_baseline_starts_inside_target(baseline_start, index):
    row = baseline_start[index]
    t = row["target"]
    assert not row.get("error"), f"{t.figure}: {row.get('error')}"
    value, when = (row["v1"], "over the first year") if t.judge == "1y" else (row["v0"], "at t = 0")
    assert row["inside"], (f"{t.figure}: baseline gives {cal.fmt_value(value, t.fmt)} {when}, "
                           f"target {t.target_text()} ({', '.join(t.sources)})")


# ------------------------------------------------------------------------------------------
# Comparative results of the library (reduced runs, every path kept).
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Per-path values at the last step of each single-scenario file (and the closed labs'
    re-rating after one year), reduced runs."""
    from analysis.load import load
    tmp = tmp_path_factory.mktemp("library")
    out = {}
    for name in SINGLE:
        path = tmp / f"{name}.h5"
        moatsim("run", SCEN / f"{name}.cfg", "-o", path, "--paths", RUN_PATHS, "--keep-paths",
                "--set", f"enterprises.count={COUNT}", "--set", f"horizon_years={YEARS}",
                "--quiet", "--force")
        with load(path) as res:
            labs = res.paths["labs"].isel(scenario=0, time=-1)
            year1 = res.paths["labs"]["rerating"].isel(scenario=0).sel(time=1.0, method="nearest")
            market = res.paths["market"].isel(scenario=0, time=-1)
            kinds = [str(k) for k in res.labs["lab_kind"].values]
            names = [str(n) for n in res.labs["lab"].values]
            out[name] = {
                "labs": {m: labs[m].values.copy() for m in ("dilution", "rerating", "volume", "revenue")},
                "rerating_1y": year1.values.copy(),
                "market": {m: market[m].values.copy()
                           for m in ("premium_flagship", "share_local", "volume_total", "share_closed")},
                "closed": [i for i, k in enumerate(kinds) if k == "closed"],
                "names": names,
            }
    return out


def lower(a, b, what):
    """One-sided Mann-Whitney U test that the paths of `a` lie below those of `b` (p < ALPHA)."""
    from scipy.stats import mannwhitneyu
    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    assert len(a) >= RUN_PATHS // 2 and len(b) >= RUN_PATHS // 2, f"{what}: too few finite paths"
    p = mannwhitneyu(a, b, alternative="less").pvalue
    assert p < ALPHA, (f"{what}: medians {np.median(a):.4g} vs {np.median(b):.4g}, one-sided "
                       f"Mann-Whitney p = {p:.3g} (needs < {ALPHA})")


def closed_mean(run, metric):
    return np.nanmean(run["labs"][metric][:, run["closed"]], axis=1)


def test_gap_collapse_lowers_the_premium(runs):
    lower(runs["gap-collapses"]["market"]["premium_flagship"],
          runs["gap-compounds"]["market"]["premium_flagship"],
          "flagship premium at the end, gap-collapses vs gap-compounds")


@pytest.mark.xfail(strict=True, reason=(
    "finding: with prices that follow costs (version 2) a collapsing gap RAISES the closed labs' "
    "share of tokens at the end: medians 0.697 (gap-collapses) vs 0.647 (gap-compounds), one-sided "
    "Mann-Whitney p(lower) = 0.999. Under the compounding gap the closed labs price far above the "
    "open offers and, with the price elasticity of volume of 0.9, their buyers buy fewer tokens; "
    "their revenue is what falls with the gap (test below; "
    "tests/python/test_statics_v2.py, docs/calibration.md, Known misses)"))
def test_gap_collapse_lowers_the_closed_share(runs):
    """The quality gap, not the ecosystem bonus, carries the closed labs' share of tokens."""
    lower(runs["gap-collapses"]["market"]["share_closed"], runs["gap-compounds"]["market"]["share_closed"],
          "closed volume share at the end, gap-collapses vs gap-compounds")


def test_gap_collapse_lowers_closed_revenue(runs):
    """The closed labs' combined revenue (their ARR) at the end."""
    def closed_revenue(run):
        return np.nansum(run["labs"]["revenue"][:, run["closed"]], axis=1)
    lower(closed_revenue(runs["gap-collapses"]), closed_revenue(runs["gap-compounds"]),
          "closed labs' combined revenue at the end, gap-collapses vs gap-compounds")


def test_gap_collapse_derates_closed_labs_while_it_closes(runs):
    """During the first year of the collapse the closed labs' ARR grows more slowly than in the
    compounding world, and investors re-rate them down (MODEL.md §7: growth and margin)."""
    def closed_mean_1y(run):
        return np.nanmean(run["rerating_1y"][:, run["closed"]], axis=1)
    lower(closed_mean_1y(runs["gap-collapses"]), closed_mean_1y(runs["gap-compounds"]),
          "closed labs' mean re-rating after one year, gap-collapses vs gap-compounds")


@pytest.mark.xfail(strict=True, reason=(
    "finding: in this unpaired comparison (24 + 24 paths, Mann-Whitney) the closed labs' re-rating "
    "at the end is not lower in gap-collapses at p < 0.001. MODEL.md §7 re-rates on last year's ARR "
    "growth and on the gross margin; with the version-2 baseline the margin now falls with the gap "
    "(by ~0.01) and so does the re-rating, by ~0.025 at 5 years, which the paired comparison with "
    "common random numbers detects (tests/python/test_statics_v2.py, 192 paths, p = 2e-8) but "
    "which is small against the per-path spread of releases, price wars and the realized gap that "
    "an unpaired test must overcome"))
def test_gap_collapse_lowers_closed_rerating(runs):
    lower(closed_mean(runs["gap-collapses"], "rerating"), closed_mean(runs["gap-compounds"], "rerating"),
          "closed labs' mean re-rating at the end, gap-collapses vs gap-compounds")


def test_local_surge_has_the_highest_local_share(runs):
    surge = runs["local-surge"]["market"]["share_local"]
    for name in SINGLE:
        if name != "local-surge":
            lower(runs[name]["market"]["share_local"], surge, f"local share, {name} vs local-surge")


def test_capital_crunch_dilutes_closed_labs_most(runs):
    """The closed labs' largest dilution S(t)/S(0) at the end (the open labs, whose revenue is two
    orders of magnitude below their training bills, raise in every scenario)."""
    def most_diluted(run):
        return np.nanmax(run["labs"]["dilution"][:, run["closed"]], axis=1)
    for name in SINGLE:
        if name != "capital-crunch":
            lower(most_diluted(runs[name]), most_diluted(runs["capital-crunch"]),
                  f"closed labs' largest dilution, {name} vs capital-crunch")


def test_export_controls_lower_the_restricted_origin(runs):
    flat = cal.flatten(cal.read_cfg(str(SCEN / "export-controls.cfg")))
    restricted = flat["governance.restricted_origins"]
    labs = sorted({k.split(".")[1] for k, v in flat.items()
                   if k.startswith("labs.") and k.endswith(".origin") and v in restricted})
    assert labs, "export-controls.cfg restricts no origin of its labs"

    def share(run):
        idx = [run["names"].index(n) for n in labs]
        return run["labs"]["volume"][:, idx].sum(axis=1) / run["market"]["volume_total"]
    lower(share(runs["export-controls"]), share(runs["baseline"]),
          f"first-party volume share of {', '.join(labs)}, export-controls vs baseline")
