"""Common random numbers and fixed draws per stream and step (MODEL.md §9), through the CLI.

Two scenarios of a sweep that differ only in price_compression.price_war_rate_per_year must see
bitwise the same latent gap and the same releases on every path: the war stream takes three
uniforms every step whatever the rate, and with sweep.common_random_numbers (the default) the
streams of path p do not depend on the scenario index. The releases are read off the labs'
quality paths, which move only at releases (and with the gap, for open labs); a war changes
prices and money, and money could change releases through distress (a distressed closed lab
releases at half its rate), so the test first checks that no lab is distressed or exits on
these paths: the equality is then exact, not approximate.
"""
import h5py
import numpy as np

from conftest import DATA, ENTERPRISES, PATHS, run_moatsim

WAR_RATES = [0.0, 3.0]  # wars a year: none, and one every 4 months
# Cash enough that no lab raises, is distressed or exits within the horizon.
AMPLE_CASH = [x for lab in ("closed-a", "closed-b", "open-a", "open-b")
              for x in ("--set", f"labs.{lab}.cash_usd=1e13")]


def war_sweep(tmp_path, *extra):
    """data/grid.cfg with its sweep replaced by a list over the war rate; the result file."""
    text = (DATA / "grid.cfg").read_text()
    text = text[:text.index("sweep = {")] + (
        'sweep = { method = "list";\n'
        f'  axes = ( {{ param = "price_compression.price_war_rate_per_year"; values = {WAR_RATES}; }} ); }};\n')
    cfg, out = tmp_path / "war.cfg", tmp_path / "war.h5"
    cfg.write_text(text)
    run_moatsim(["run", cfg, "-o", out, "--paths", PATHS, "--set", f"enterprises.count={ENTERPRISES}",
                 "--keep-paths", "--quiet", "--force", *AMPLE_CASH, *extra])
    return out


def read(out, group, name):
    with h5py.File(out, "r") as f:
        return f[f"paths/{group}/{name}"][()]


def test_war_rate_leaves_gap_and_releases_bitwise_equal(tmp_path):
    out = war_sweep(tmp_path)
    war = read(out, "market", "price_war_active")  # [scenario, path, time]
    assert war[0].sum() == 0 and war[1].sum() > 0, "the wars must differ for the test to mean anything"
    # Precondition: no distress and no exit, so that releases cannot differ through money.
    assert read(out, "labs", "distressed").sum() == 0
    assert read(out, "labs", "active").min() == 1
    gap, quality = read(out, "market", "latent_gap"), read(out, "labs", "quality")
    assert np.array_equal(gap[0], gap[1])
    assert np.array_equal(quality[0], quality[1])
    # ... while the economics differ: the aggressor's first-party price is cut during a war.
    price = read(out, "labs", "price")
    assert not np.array_equal(price[0], price[1])


def test_independent_replications_without_common_random_numbers(tmp_path):
    """sweep.common_random_numbers = false keys the streams by the scenario index too (version 1):
    the two scenarios then see different gaps on every path."""
    out = war_sweep(tmp_path, "--set", "sweep.common_random_numbers=false")
    gap = read(out, "market", "latent_gap")
    assert all(not np.array_equal(gap[0, p], gap[1, p]) for p in range(PATHS))
