"""enterprises.value_index = "frontier_cost" (value follows the frontier's serving cost), end to end.

With value following the frontier's serving cost at elasticity θ = 1, a market whose frontier does
not move and whose serving costs all fall by the same factor each step is homogeneous of degree 1
from step to step: at step n the costs are c·κ(n) and the values v·κ(n) (the index is read at the
same step: it is set by supply, so no lag is needed), which is the market of step 0 scaled by κ(n).
With the demand weights fixed (no growth, price elasticity 0) and every enterprise reviewing at
every step (rate 366 a year: a step passes without a review with probability e^-30.5 ~ 6e-14 per
enterprise, so revenue is earned at the equilibrium shares, not at carried-over ones), the
equilibrium of every step is the one of step 0 rescaled: every seller's gross margin is the same
at every step, to the pricing tolerance (1e-12 here; the margins must agree to 1e-8). Nothing
random moves: no releases (rates 0), no price wars, no local inference.
With θ = 0 (a fixed dollar value) the same market's closed margins rise as costs fall (by 0.2 over
the two years): the control that shows the test can fail.
"""
import os
import pathlib
import subprocess

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BASELINE = REPO / "scenarios" / "baseline.cfg"
FROZEN = ["price_compression.price_war_rate_per_year=0", "local_inference.max_share=0",
          "enterprises.review_per_year=366", "market.demand_growth_per_year=0",
          "market.demand_growth_long_run=0", "market.price_elasticity=0", "pricing.tolerance=1e-12", "pricing.max_iterations=5000",
          "enterprises.count=60", "horizon_years=2", "price_compression.cost_decline_per_year=0.5"] + \
    [f"labs.{l}.release_rate_per_year=0" for l in
     ("closed-a", "closed-b", "closed-c", "open-a", "open-b", "open-c")]


def binary() -> str:
    exe = os.environ.get("MOATSIM") or str(REPO / "bin" / "moatsim")
    if not os.access(exe, os.X_OK):
        pytest.fail(f"MOATSIM = {exe} is not an executable file: build it with `make`")
    return exe


def margins(tmp_path, theta):
    from analysis.load import load
    out = tmp_path / f"theta{theta}.h5"
    args = [binary(), "run", str(BASELINE), "-o", str(out), "--paths", "1", "--keep-paths", "--quiet",
            "--force", "--set", 'enterprises.value_index="frontier_cost"',
            "--set", f"enterprises.value_price_elasticity={theta}"]
    for key in FROZEN:
        args += ["--set", key]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with load(out) as res:
        market = res.paths["market"].isel(scenario=0, path=0)
        assert (market["pricing_converged"].values > 0).all(), "a pricing step did not converge"
        return res.paths["labs"].isel(scenario=0, path=0)["gross_margin"].values  # (lab, time)


def test_frontier_cost_index_keeps_margins_constant(tmp_path):
    gm = margins(tmp_path, 1.0)
    later = gm
    assert np.isfinite(later).all()
    spread = np.max(np.abs(later - later[:, :1]))
    assert spread < 1e-8, f"gross margins move by {spread:.3g} across steps 0..T"


def test_fixed_dollar_value_lets_margins_rise(tmp_path):
    gm = margins(tmp_path, 0.0)
    closed = gm[:3]  # closed-a, closed-b, closed-c: the baseline's first three labs
    rise = closed[:, -1] - closed[:, 1]
    assert (rise > 0.05).all(), f"with theta = 0 the closed margins should rise as costs fall: {rise}"
