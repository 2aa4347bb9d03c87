"""Comparative statics of version 2 (MODEL.md §10, issue 13) as paired one-sided tests.

Every scenario here is scenarios/baseline.cfg (version 2 as calibrated: value follows the
frontier's serving cost with elasticity 1, 0.3 per quality point, host similarity 0.2, training
returns γ = 1 for the closed labs) with its 160 stratified enterprises, a 5-year horizon and every
path kept, plus the one or two keys under test. The seed is the baseline's and
`sweep.common_random_numbers` is on (the default), so the streams of path p are keyed by
(seed, p, stream) alone (MODEL.md §9): path p of every run below sees the same draws, and the
per-path difference between two runs is the parameters' effect, not sampling noise.

The tests are therefore paired: a one-sided Wilcoxon signed-rank test on the per-path
differences (zero differences dropped), at ALPHA = 0.001 where the static must hold. A rank
test because premiums and re-ratings are heavy-tailed (a few paths dominate any mean). Sample
size: 192 paths. The weakest static that must hold, the closed re-rating under a collapsing gap,
has a median difference of -0.017 with 28 of 48 paths lower (p = 0.063) at 48 paths; the
Wilcoxon z grows as sqrt(n), so four times the paths take the expected z from 1.5 to ~3.1 and
beyond the 0.001 level's 3.09; measured at 192 paths: 141 lower / 51 higher, p = 2e-8. The
price-war pair takes WAR_PATHS = 576 (three times as many): the war moves the closed flagship
price by very little, and at 576 paths the test has power to see a shift of a few standard
errors of the per-path differences. The runs cost ~1 min on 2 cores (160 enterprises).
The static that must NOT hold ("a faster fall of fixed-capability cost raises the closed
premium", which version 1 did: premium at 5 y 15.5 vs 26.7 for cost decline 0.2 vs 0.6) is
tested at the looser level ALPHA_NOT = 0.05, which makes the test harder to pass, not easier;
its power: the per-path log ratio of the premiums (cost decline 0.6 vs 0.2) has a mean of
-0.0062 and a standard error of 0.0012 over the 192 paths, so a rise of well under 1 % would
reject, and version 1's rise (log 26.7/15.5 = 0.54) is ~450 standard errors. The seeds are
fixed, so every outcome is deterministic; a failure means the mechanism changed.

Statics the model does not deliver are marked xfail(strict=True) with the measured figures:
they are findings of the calibration (issue 13), not tests weakened to pass.
"""
import os
import pathlib
import subprocess

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BASELINE = REPO / "scenarios" / "baseline.cfg"
PATHS, COUNT, YEARS = 192, 160, 5.0  # paths, enterprises and years of every run
WAR_PATHS = 576  # paths of the price-war pair (module docstring)
ALPHA = 1e-3       # one-sided level where a static must hold
ALPHA_NOT = 0.05   # one-sided level of the test that must NOT reject
# The runs: name -> keys set on top of the baseline (version 2 as calibrated, MODEL.md §10).
RUNS = {
    "base": [],
    "gap_small": ["quality_gap.long_run=0.005"],
    "gap_large": ["quality_gap.long_run=0.08"],
    "cost_slow": ["price_compression.cost_decline_per_year=0.2"],
    "cost_fast": ["price_compression.cost_decline_per_year=0.6"],
    "war": ["price_compression.price_war_rate_per_year=2"],
    "peace": ["price_compression.price_war_rate_per_year=0"],
    # A capital crunch for closed-a alone: training cost growing 150 %/year from an eighth of its
    # cash, so it raises early and its rounds hit finance.max_raise_fraction (distress halves
    # its training, MODEL.md §4-5, and with γ = 1 halves its release steps).
    "crunch": ["labs.closed-a.training_cost_growth_per_year=1.5", "labs.closed-a.cash_usd=5e9"],
    # The same crunch with closed-a's release steps independent of its funding (γ = 0): only
    # the halved release rate of a distressed lab remains.
    "crunch_g0": ["labs.closed-a.training_cost_growth_per_year=1.5", "labs.closed-a.cash_usd=5e9",
                  "labs.closed-a.training_returns=0"],
}
CRUNCHED = "closed-a"


def binary() -> str:
    exe = os.environ.get("MOATSIM") or str(REPO / "bin" / "moatsim")
    if not os.access(exe, os.X_OK):
        pytest.fail(f"MOATSIM = {exe} is not an executable file: build it with `make`")
    return exe


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Per-path arrays of each run: market[name] (path, time), labs[name] (path, lab, time)."""
    from analysis.load import load
    tmp = tmp_path_factory.mktemp("statics")
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    out = {}
    for name, keys in RUNS.items():
        path = tmp / f"{name}.h5"
        n_paths = WAR_PATHS if name in ("war", "peace") else PATHS
        args = [binary(), "run", str(BASELINE), "-o", str(path), "--paths", str(n_paths), "--keep-paths",
                "--quiet", "--force", "--set", f"enterprises.count={COUNT}", "--set", f"horizon_years={YEARS}"]
        for key in keys:
            args += ["--set", key]
        proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900)
        if proc.returncode != 0:
            pytest.fail(f"{' '.join(args)} exited with {proc.returncode}:\n{proc.stderr}")
        with load(path) as res:
            market, labs = res.paths["market"].isel(scenario=0), res.paths["labs"].isel(scenario=0)
            assert labs["price"].dims == ("path", "lab", "time")
            kinds = [str(k) for k in res.labs["lab_kind"].values]
            out[name] = {
                "market": {m: market[m].values.copy() for m in
                           ("premium_flagship", "share_closed", "revenue_share_closed", "price_war_active",
                            "frontier_quality")},
                "labs": {m: labs[m].values.copy() for m in
                         ("price", "quality", "revenue", "gross_margin", "rerating", "distressed")},
                "closed": [i for i, k in enumerate(kinds) if k == "closed"],
                "names": [str(n) for n in res.labs["lab"].values],
            }
    return out


def paired_p(diff, alternative):
    """One-sided Wilcoxon signed-rank p of the per-path differences (zeros dropped)."""
    from scipy.stats import wilcoxon
    d = np.asarray(diff, float)
    d = d[np.isfinite(d)]
    assert len(d) >= PATHS // 2, f"too few finite paired differences ({len(d)} of {PATHS})"
    # The exact distribution assumes no zero differences; with zeros (the crunch's share of steps
    # behind the frontier is equal on many paths) the normal approximation is the documented one.
    method = "approx" if (d == 0).any() else "auto"
    return d, wilcoxon(d, alternative=alternative, method=method).pvalue


def describe(d, p):
    return (f"median difference {np.median(d):.4g}, {np.sum(d < 0)} paths lower / {np.sum(d > 0)} higher "
            f"of {len(d)}, one-sided Wilcoxon p = {p:.3g}")


def lower(diff, what):
    """The static holds: the treated run's per-path values lie below the control's (p < ALPHA)."""
    d, p = paired_p(diff, "less")
    print(f"{what}: {describe(d, p)}")
    assert p < ALPHA, f"{what}: {describe(d, p)} (needs < {ALPHA})"


def at_end(run, group, metric):
    return run[group][metric][..., -1]


def closed_margin(run):
    """The closed labs' combined gross margin at the end: gross profit over revenue."""
    rev = run["labs"]["revenue"][:, run["closed"], -1]
    gm = run["labs"]["gross_margin"][:, run["closed"], -1]
    return np.nansum(gm * rev, axis=1) / np.nansum(rev, axis=1)


def closed_rerating(run):
    return np.nanmean(run["labs"]["rerating"][:, run["closed"], -1], axis=1)


# ------------------------------------------------------------------------------------------
# 1. A collapsing gap (long-run gap 0.5 % vs 8 %) at 5 years.
# ------------------------------------------------------------------------------------------
SHARE_FINDING = pytest.mark.xfail(strict=True, reason=(
    "finding: a collapsing gap RAISES the closed labs' volume share at 5 years: median per-path "
    "difference +0.081, 168 of 192 paths higher. Under the 8 % gap the "
    "closed labs price far above the open offers (flagship premium 50x against 3.8x, closed "
    "flagship and mini prices 1.7x and 2.4x higher), and with the calibrated price elasticity of "
    "volume (0.9, MODEL.md §5) their buyers buy 2.5x fewer tokens; the closed labs keep 98 % of "
    "token revenue against 77 %. The volume share reads tokens, which the price elasticity moves "
    "against the choice shares; the revenue share falls as the seeds argue (test above)"))


@pytest.mark.parametrize("metric", ["premium_flagship", pytest.param("share_closed", marks=SHARE_FINDING),
                                    "revenue_share_closed"])
def test_gap_collapse_lowers_the_closed_position(runs, metric):
    small, large = runs["gap_small"], runs["gap_large"]
    lower(at_end(small, "market", metric) - at_end(large, "market", metric),
          f"{metric} at 5 years, long-run gap 0.005 minus 0.08")


def test_gap_collapse_lowers_the_closed_margin(runs):
    lower(closed_margin(runs["gap_small"]) - closed_margin(runs["gap_large"]),
          "closed labs' gross margin at 5 years, long-run gap 0.005 minus 0.08")


def test_gap_collapse_lowers_the_closed_rerating(runs):
    lower(closed_rerating(runs["gap_small"]) - closed_rerating(runs["gap_large"]),
          "closed labs' mean re-rating at 5 years, long-run gap 0.005 minus 0.08")


# ------------------------------------------------------------------------------------------
# 2. A faster fall of fixed-capability cost does not raise the closed premium.
# ------------------------------------------------------------------------------------------
def test_faster_cost_decline_does_not_raise_the_premium(runs):
    """Log ratio per path (the premium is a ratio of prices; its scale differs across paths)."""
    fast = at_end(runs["cost_fast"], "market", "premium_flagship")
    slow = at_end(runs["cost_slow"], "market", "premium_flagship")
    d, p = paired_p(np.log(fast / slow), "greater")
    print(f"log premium ratio, cost decline 0.6 / 0.2: {describe(d, p)}; mean {d.mean():.4g}, "
          f"standard error {d.std(ddof=1) / np.sqrt(len(d)):.3g}")
    assert p >= ALPHA_NOT, (f"a faster cost decline (0.6 vs 0.2 a year) raises the flagship premium at "
                            f"5 years: log ratio {describe(d, p)} (must not reject at {ALPHA_NOT})")


# ------------------------------------------------------------------------------------------
# 3. A price war lowers the closed labs' share and flagship price while it runs.
# ------------------------------------------------------------------------------------------
def during_war(runs, values):
    """Per path: the mean of war-run minus peace-run values over the steps where the war run has
    a war on (NaN where none ran)."""
    active = runs["war"]["market"]["price_war_active"] > 0
    assert not (runs["peace"]["market"]["price_war_active"] > 0).any(), "a war ran at rate 0"
    assert active.mean() > 0.2, f"wars run only {active.mean():.0%} of the steps at rate 2/year"
    war, peace = values(runs["war"]), values(runs["peace"])
    return np.array([np.mean((war[p] - peace[p])[active[p]]) if active[p].any() else np.nan
                     for p in range(active.shape[0])])


def test_price_war_lowers_the_closed_share_while_it_runs(runs):
    lower(during_war(runs, lambda r: r["market"]["share_closed"]),
          "closed volume share during wars, war rate 2/year minus 0")


@pytest.mark.xfail(strict=True, reason=(
    "a price war barely moves the closed flagships' price: the war cuts an open lab's first-party "
    "API, whose buyers are mostly routine work, and the flagships' buyers hardly substitute, so the "
    "closed best responses fall by a median of 3.5e-5 in log over the war steps (306 of 576 paths "
    "lower, one-sided Wilcoxon p = 0.041, short of 0.001); the closed volume share does fall "
    "(576 of 576 paths): a finding of the calibration"))
def test_price_war_lowers_the_closed_flagship_price_while_it_runs(runs):
    """Log of the closed labs' mean flagship price (prices fall over time; the log compares levels)."""
    lower(during_war(runs, lambda r: np.log(np.nanmean(r["labs"]["price"][:, r["closed"], :], axis=1))),
          "log mean closed flagship price during wars, war rate 2/year minus 0")


# ------------------------------------------------------------------------------------------
# 4. A capital crunch that halves a closed lab's training makes it lose the frontier more often.
# ------------------------------------------------------------------------------------------
def crunched(run):
    return run["names"].index(CRUNCHED)


def test_crunch_distresses_the_lab(runs):
    """The premise: the crunch puts closed-a in distress (training halved) far more often."""
    crunch, base = (np.mean(r["labs"]["distressed"][:, crunched(r), :] > 0) for r in (runs["crunch"], runs["base"]))
    assert crunch > base + 0.2, f"{CRUNCHED} distressed in {crunch:.0%} of steps under the crunch, {base:.0%} without"


def test_crunch_loses_the_frontier_more_often(runs):
    """Per path, the share of steps at which closed-a's flagship is below the frontier."""
    def behind(run):
        q = run["labs"]["quality"][:, crunched(run), :]
        return np.mean(q < run["market"]["frontier_quality"] - 1e-9, axis=1)
    lower(behind(runs["base"]) - behind(runs["crunch"]),
          f"share of steps {CRUNCHED} is behind the frontier, no crunch minus crunch")


def test_crunch_widens_the_shortfall_to_the_frontier(runs):
    """Per path, the mean quality points by which closed-a's flagship trails the frontier."""
    def shortfall(run):
        return np.mean(run["market"]["frontier_quality"] - run["labs"]["quality"][:, crunched(run), :], axis=1)
    lower(shortfall(runs["base"]) - shortfall(runs["crunch"]),
          f"mean shortfall of {CRUNCHED} to the frontier, no crunch minus crunch")


def test_training_returns_make_the_crunch_cost_quality(runs):
    """γ = 1 against γ = 0 under the same crunch: halved training buys release steps 2^-γ as
    large (MODEL.md §4), so the crunched lab's flagship ends lower."""
    def quality(run):
        return run["labs"]["quality"][:, crunched(run), -1]
    lower(quality(runs["crunch"]) - quality(runs["crunch_g0"]),
          f"quality of {CRUNCHED} at 5 years under the crunch, γ = 1 minus γ = 0")


def test_training_returns_make_the_crunch_cost_the_frontier(runs):
    """γ = 1 against γ = 0 under the same crunch. MODEL.md §4's release rule leapfrogs the frontier
    (q ← max(q, F) + J), so the crunched lab's position behind the frontier is set by the timing of
    its releases (the halved rate of a distressed lab, tested above) and not by their size: its
    shortfall is the sum of the others' steps since its last release, whatever its own J. What
    the smaller steps of an under-funded lab do change is the frontier itself, which every later
    leapfrog starts from: funding buys the frontier at the market level."""
    def frontier(run):
        return run["market"]["frontier_quality"][:, -1]
    lower(frontier(runs["crunch"]) - frontier(runs["crunch_g0"]),
          f"frontier quality at 5 years under the crunch of {CRUNCHED}, γ = 1 minus γ = 0")
