"""Differential test: the C model against the NumPy reference (tests/bench/reference.py).

tests/bench/dump_state runs one path with moat_path_run and writes its parameters, its random
draws (recovered by replaying the path's generator streams, checked against the library's own
draws step by step), the pricing kernel's market at step 0 and the path's results. The NumPy code
recomputes from the same state and draws; prices, shares and metrics must agree to 1e-8
relative (both sides solve to pricing.tolerance = 1e-12, so 1e-8 leaves four orders of magnitude
for the rounding of two different summation orders, libm against the vectorized exp, and the
equilibrium's sensitivity to them).
"""
import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "bench"))

import reference as R  # noqa: E402

DUMP = REPO / "build" / "release" / "bench" / "dump_state"
BASELINE = REPO / "scenarios" / "baseline.cfg"
RTOL = 1e-8
# A small, fast version of the baseline solved to a tight tolerance, in plain logit (the
# baseline's hosts are nested at host_similarity 0.2; NESTED below tests the nests).
SMALL = ["enterprises.count=150", "horizon_years=3", "pricing.tolerance=1e-12", "enterprises.host_similarity=0"]
# For the whole path: a unimodal value distribution (hard work worth 2x routine work, not 20x),
# frequent price wars and two labs short of cash, so that wars, raises and distress all occur.
# It also switches on the extensions of MODEL.md: decaying demand growth and a valuable outside
# option.
# Why unimodal: with the baseline's two value clusters the pricing game can have more than one
# equilibrium in a step (a closed lab can price for the hard segment alone or for both), and
# which one an iteration finds depends on its exact path; see docs/performance.md.
WHOLE_PATH = ["enterprises.count=120", "horizon_years=3", "pricing.tolerance=1e-12",
              "enterprises.value_hard_median=3.0", "price_compression.price_war_rate_per_year=2.0",
              "labs.open-b.cash_usd=2e8", "labs.closed-c.cash_usd=3e9",
              # demand growth that decays from 200 % to 20 % a year, and an outside option worth
              # 20 % of the work's value (up to 5 % of demand goes unserved)
              "market.demand_growth_per_year=2.0", "market.demand_growth_long_run=0.2",
              "market.demand_growth_decay_per_year=1.0", "enterprises.outside_value=0.2"]


def dump(tmp_path, sets, path_index=0):
    subprocess.run(["make", "--no-print-directory", "-s", "-C", str(REPO), "build/release/bench/dump_state"],
                   check=True, stdout=subprocess.DEVNULL)
    out = tmp_path / "dump.json"
    subprocess.run([str(DUMP), str(BASELINE), str(out), str(path_index)] + sets, check=True)
    return R.load_dump(out)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return dump(tmp_path_factory.mktemp("small"), SMALL)


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    return dump(tmp_path_factory.mktemp("whole"), WHOLE_PATH)


def rel_err(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def step0_market(d):
    """The step-0 market of the dump: the offers, then the outside option's column (buying
    nothing: price and cost 0, no seller) when enterprises.outside_option is on. Returns the
    offer table and the per-column seller, owner and fixed arrays with it."""
    s0, sc = d["step0"], R.Scenario(d)
    ot = R.Offers(sc)
    outside = int(bool(sc["enterprises.outside_option"]))
    J = ot.n + outside
    base = np.array(s0["base"], float).reshape(-1, J)
    seller = np.append(ot.seller, [-1] * outside)
    owner = np.vstack([ot.owner, np.zeros((outside, ot.n_sellers))])
    cols = dict(seller=seller, owner=owner, fixed=seller < 0, outside=outside)
    return sc, ot, base, np.array(s0["alpha"]), np.array(s0["weight"]), np.array(s0["cost"]), cols


def test_offer_table_and_costs_match(small):
    sc, ot, _, _, _, cost, cols = step0_market(small)
    assert cols["outside"]  # the default: the outside option is on
    assert list(cols["seller"]) == small["step0"]["seller"]
    proc = R.Processes(sc)
    quality, my_cost = ot.update(sc, proc.q, 1.0, sc["local_inference.cost_per_mtok"],
                                 sc["local_inference.quality_penalty"])
    assert rel_err(quality, small["step0"]["quality"][:ot.n]) < 1e-15
    assert rel_err(my_cost, cost[:ot.n]) < 1e-15
    assert cost[ot.n] == 0.0


def test_step0_utilities_match(small):
    """The utility matrix (MODEL.md §5) built by NumPy equals the one the C path hands the kernel;
    infeasible cells (restricted origins, local offers before adoption) are -inf on both sides."""
    sc, ot, base, alpha, weight, _, _ = step0_market(small)
    ent = R.attributes(small)
    mine = R.utility_base(sc, ot, ent, np.array(small["step0"]["quality"][:ot.n]), R.Processes(sc).frontier,
                          np.ones(ot.n, bool), np.zeros(ent["n"], bool))
    # the outside option's column: u_0 / tau = outside_value / rho in every row
    assert np.all(base[:, ot.n] == sc["enterprises.outside_value"] / sc["enterprises.taste_dispersion"])
    base = base[:, :ot.n]
    assert np.array_equal(np.isneginf(mine), np.isneginf(base))
    assert np.isneginf(base).any() and np.isfinite(base).any()
    ok = np.isfinite(base)
    assert rel_err(mine[ok], base[ok]) < 1e-13
    assert rel_err(1.0 / (sc["enterprises.taste_dispersion"] * ent["value"]), alpha) < 1e-15
    assert rel_err(np.repeat(ent["d0"], 2) * np.stack([ent["hard"], 1 - ent["hard"]], 1).ravel(), weight) < 1e-15


def test_step0_equilibrium_matches(small):
    """From the same start (1.5 c, local at cost) the NumPy solver reaches the C prices, and the
    C prices are a fixed point of the NumPy zeta map: the first-order conditions of MODEL.md §6
    hold for them, whatever iteration found them."""
    sc, ot, base, alpha, weight, cost, cols = step0_market(small)
    s0 = small["step0"]
    assert s0["converged"] == 1
    fixed, seller, owner = cols["fixed"], cols["seller"], cols["owner"]
    start = np.where(fixed, cost, 1.5 * cost)
    p, _, converged = R.solve_prices(base, alpha, weight, cost, seller, owner, fixed, start,
                                     sc["pricing.tolerance"], int(sc["pricing.max_iterations"]))
    assert converged
    assert rel_err(p, s0["price"]) < RTOL
    c_price = np.array(s0["price"])
    rows = weight > 0
    g = R.zeta_map(base[rows], alpha[rows], weight[rows], weight[rows] * alpha[rows], c_price, cost,
                   seller, owner, ~fixed)
    assert rel_err(g, c_price) < RTOL
    assert np.all(c_price[~fixed] > cost[~fixed])  # logit markups are positive


def test_step0_shares_match(small):
    sc, ot, base, alpha, _, _, _ = step0_market(small)
    c_shares = np.array(small["step0"]["shares"]).reshape(-1, base.shape[1])
    mine = R.logit_shares(base, alpha, np.array(small["step0"]["price"]))
    assert np.allclose(c_shares.sum(axis=1), 1.0, rtol=0, atol=1e-14)
    assert np.array_equal(mine == 0, c_shares == 0)  # exactly zero where infeasible
    assert np.max(np.abs(mine - c_shares)) < RTOL


def test_local_pool_matches(small):
    sc, ent = R.Scenario(small), R.attributes(small)
    assert np.array_equal(R.local_pool(sc, ent), np.array(small["attributes"]["pool"], bool))


def test_whole_path_matches(whole):
    """Every metric of every step, from the same draws: market, labs, clouds, DCF."""
    res = R.run_path(whole)
    diffs = R.differences(whole, res)
    worst = {k: v for k, v in diffs.items() if not v <= RTOL}
    assert not worst, worst
    assert len(diffs) == sum(len(whole["results"][g + "_names"]) for g in
                             ["market", "lab", "cloud", "lab_path", "path"]) - 1  # all but iterations


def test_baseline_path_matches(small):
    """The baseline's own two value clusters, whole path. Its pricing game has steps with more
    than one equilibrium, so this also requires the NumPy solver to take the C solver's way
    (same start, Anderson depth, restarts); a failure here while test_whole_path_matches passes
    points at the equilibrium selection rather than at the model's equations."""
    res = R.run_path(small)
    assert R.steps_matching(small, res) == small["results"]["n_steps"]
    worst = {k: v for k, v in R.differences(small, res).items() if not v <= RTOL}
    assert not worst, worst


def test_solver_takes_the_same_iterations(small):
    """The NumPy solver follows the C solver's rules (acceleration start and restarts, Newton phase,
    undo, re-arming), so it takes the same number of passes a step, and the benchmark compares the
    same work. Different summation orders may flip a threshold decision now and then; measured on
    this path: every one of the 36 steps equal."""
    res = R.run_path(small)
    r = small["results"]
    c = R.Results.split(np.array(r["values"], float), r, res.T, res.L, res.K)["market"].reshape(res.market.shape)
    i = r["market_names"].index("pricing_iterations")
    mine, theirs = res.market[i], c[i]
    assert np.mean(mine == theirs) >= 0.9, list(zip(mine, theirs))
    assert abs(mine.sum() - theirs.sum()) <= 0.03 * theirs.sum()


# Version 2's mechanisms switched on (MODEL.md §11 sketch values): value follows price, serving
# cost grows with capability, training returns on every closed lab (closed-c short of cash, so
# that it is distressed and its jumps shrink), and the DCF's terminal value at the mark.
VERSION2 = WHOLE_PATH + ["enterprises.value_price_elasticity=1.0", "price_compression.cost_per_quality_point=0.15",
                         "price_compression.cost_decline_per_year=0.8", "labs.closed-a.training_returns=1.0",
                         "labs.closed-b.training_returns=2.0", "labs.closed-c.training_returns=0.5",
                         "labs.closed-c.cash_usd=3e8", "valuation.terminal=\"mark\"",
                         # the enterprise draw under which closed-c's cash runs short on this path
                         "enterprises.sampling=weighted"]


@pytest.fixture(scope="module")
def version2(tmp_path_factory):
    return dump(tmp_path_factory.mktemp("version2"), VERSION2)


def test_version2_path_matches(version2):
    """The whole path with theta, beta, gamma and the mark terminal value: every metric of
    every step (hosting_margin and the cost-curve price_constant_quality included) and the
    DCF agree with NumPy's version of the same equations."""
    res = R.run_path(version2)
    worst = {k: v for k, v in R.differences(version2, res).items() if not v <= RTOL}
    assert not worst, worst
    r = version2["results"]
    T, L, K = r["n_steps"], r["n_labs"], r["n_clouds"]
    lab = R.Results.split(np.array(r["values"], float), r, T, L, K)["lab"].reshape(-1, L, T)
    assert lab[r["lab_names"].index("distressed")][:3].sum() >= 1  # a closed lab's jumps shrink


def test_whole_path_covers_wars_raises_and_distress(whole):
    """The path compared above goes through the branches it should test (C results)."""
    r = whole["results"]
    T, L, K = r["n_steps"], r["n_labs"], r["n_clouds"]
    c = R.Results.split(np.array(r["values"], float), r, T, L, K)
    market = c["market"].reshape(-1, T)
    lab = c["lab"].reshape(-1, L, T)
    assert market[r["market_names"].index("price_war_active")].sum() >= 2
    assert lab[r["lab_names"].index("distressed")].sum() >= 2
    assert lab[r["lab_names"].index("dilution")][:, -1].max() > 1.0
    assert math.isnan(lab[r["lab_names"].index("price_mini")][3, 0])  # open lab: no mini
    assert market[r["market_names"].index("unserved_share")].max() > 0.01  # the outside option is used


# With wars four times as frequent as the baseline's, path 0 draws a war start (u < p) in steps
# where a war ends (step 116).
WAR_RESTART = ["enterprises.count=100", "pricing.tolerance=1e-12", "price_compression.price_war_rate_per_year=2.0"]


def test_no_war_restarts_in_the_step_one_ends(tmp_path):
    """A war cannot start in the step the previous one ends (its cut would compound on the held
    war price). The path below draws u < p in such a step: the C results must show no war there,
    the shock replay must agree (dump_state fails otherwise) and NumPy must match every metric."""
    d = dump(tmp_path, WAR_RESTART, path_index=0)
    sc, r = R.Scenario(d), d["results"]
    T, L, K = r["n_steps"], r["n_labs"], r["n_clouds"]
    war = R.Results.split(np.array(r["values"], float), r, T, L, K)["market"].reshape(-1, T)[
        r["market_names"].index("price_war_active")]
    p = -math.expm1(-sc["price_compression.price_war_rate_per_year"] * sc.dt)
    suppressed = [n for n in range(1, T)
                  if war[n - 1] == 1 and war[n] == 0 and d["shocks"][n]["war_u"][0] < p]
    assert suppressed, "the path no longer covers a war start drawn in a war's last step"
    res = R.run_path(d)
    worst = {k: v for k, v in R.differences(d, res).items() if not v <= RTOL}
    assert not worst, worst


# Nested logit over the hosts of each open model (MODEL.md §5-6) at host_similarity 0.8: the
# NumPy reference's nested shares, generalized zeta map and nested Newton Jacobian against the C
# kernel, on the small baseline.
NESTED = SMALL + ["enterprises.host_similarity=0.8"]


@pytest.fixture(scope="module")
def nested(tmp_path_factory):
    return dump(tmp_path_factory.mktemp("nested"), NESTED)


def test_nested_step0_matches(nested):
    """Step 0 at sigma = 0.8: from 1.5 c NumPy reaches the C prices, they are a fixed point of the
    NumPy generalized zeta map, and the C shares are NumPy's nested-logit shares."""
    sc, ot, base, alpha, weight, cost, cols = step0_market(nested)
    s0 = nested["step0"]
    assert s0["converged"] == 1
    nests = ot.nests(sc, cols["outside"])
    assert ot.host_nest.sum() == 3 and np.allclose(nests[1][:ot.n_nests][ot.host_nest], 0.2, rtol=0, atol=1e-15)
    fixed, seller, owner = cols["fixed"], cols["seller"], cols["owner"]
    start = np.where(fixed, cost, 1.5 * cost)
    p, _, converged = R.solve_prices(base, alpha, weight, cost, seller, owner, fixed, start,
                                     sc["pricing.tolerance"], int(sc["pricing.max_iterations"]), nests)
    assert converged
    assert rel_err(p, s0["price"]) < RTOL
    c_price = np.array(s0["price"])
    rows = weight > 0
    g = R.zeta_map(base[rows], alpha[rows], weight[rows], weight[rows] * alpha[rows], c_price, cost,
                   seller, owner, ~fixed, nests)
    assert rel_err(g, c_price) < RTOL
    c_shares = np.array(s0["shares"]).reshape(-1, base.shape[1])
    mine = R.choice_shares(base, alpha, c_price, nests)
    assert np.array_equal(mine == 0, c_shares == 0)
    assert np.max(np.abs(mine - c_shares)) < RTOL
    # hosts of the same weights are close substitutes: the nested markups of the clouds are below
    # the plain-logit ones at the same costs
    plain, _, _ = R.solve_prices(base, alpha, weight, cost, seller, owner, fixed, start,
                                 sc["pricing.tolerance"], int(sc["pricing.max_iterations"]))
    clouds = np.nonzero(ot.kind == R.CLOUD)[0]
    assert np.all(c_price[clouds] - cost[clouds] < plain[clouds] - cost[clouds])


def test_nested_path_matches(nested):
    """The whole small baseline path at sigma = 0.8: every metric, and the same iterations a step
    on at least 90 % of the steps (the two solvers follow the same rules)."""
    res = R.run_path(nested)
    worst = {k: v for k, v in R.differences(nested, res).items() if not v <= RTOL}
    assert not worst, worst
    r = nested["results"]
    c = R.Results.split(np.array(r["values"], float), r, res.T, res.L, res.K)["market"].reshape(res.market.shape)
    i = r["market_names"].index("pricing_iterations")
    assert np.mean(res.market[i] == c[i]) >= 0.9, list(zip(res.market[i], c[i]))


def test_fast_logit_zeta_matches_plain(small):
    """The benchmark's solver (LogitZeta: offers on the first axis, in-place buffers, one matrix
    product) computes the plain zeta_terms / zeta_map to rounding, at the C equilibrium and away
    from it, and its Newton matrix is dF/dp by central differences at the equilibrium (F = 0)."""
    sc, ot, base, alpha, weight, cost, cols = step0_market(small)
    fixed, seller, owner = cols["fixed"], cols["seller"], cols["owner"]
    rows = weight > 0
    args = (base[rows], alpha[rows], weight[rows], weight[rows] * alpha[rows])
    zeta = R.LogitZeta(*args, cost, seller, owner, ~fixed)
    c_price = np.array(small["step0"]["price"])
    rng = np.random.default_rng(7)
    for p in [c_price, c_price * rng.uniform(0.8, 1.5, len(c_price)), np.where(fixed, cost, 1.5 * cost)]:
        slow = R.zeta_terms(*args, p, cost, seller, owner)
        fast = zeta.terms(p)
        for x, y in zip(fast, slow):
            assert rel_err(x, y) < 1e-13
        assert rel_err(zeta.map(p), R.zeta_map(*args, p, cost, seller, owner, ~fixed)) < 1e-13
    system = zeta.matrix(c_price)
    assert system is not None
    sys_, jac_s = system

    def foc(p):
        demand, lam, gam = R.zeta_terms(*args, p, cost, seller, owner)
        with np.errstate(divide="ignore", invalid="ignore"):  # offers nobody can buy: not in sys_
            return ((demand + gam) / lam - np.where(seller >= 0, p - cost, 0.0))[sys_]
    h = 1e-6 * c_price
    fd = np.stack([(foc(c_price + np.where(np.arange(len(c_price)) == i, h, 0.0))
                    - foc(c_price - np.where(np.arange(len(c_price)) == i, h, 0.0))) / (2 * h[i])
                   for i in np.nonzero(sys_)[0]], axis=1)
    assert np.max(np.abs(fd - jac_s)) < 1e-6 * max(1.0, np.max(np.abs(jac_s)))
