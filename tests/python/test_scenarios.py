"""The scenario library: every file is a valid scenario that differs from the baseline only where
it says; the baseline starts inside the calibration targets of docs/calibration.md; and the
library's comparative results hold.

Sample sizes. The start-of-run figures vary across paths only through the enterprise draws, so
16 paths pin their means far more tightly than the target ranges are wide. The comparative
checks run each scenario with 16 paths of 300 enterprises over 5 years and require the
difference of two means to exceed 3 standard errors, SE = sqrt(sd_a^2/n_a + sd_b^2/n_b), with the
standard deviations and counts from the files' own summaries (a one-sided z-test at about the
0.1 % level). Where a quantity sums or averages several labs, its standard deviation is bounded
above by the sum (or mean) of the labs' standard deviations (sd(X + Y) <= sd(X) + sd(Y)), which
only makes the test stricter. The effects tested are structural (gap 0.5 % vs 10 %, restricted
share 25 % vs 80 %, ...), so with these sizes a failure means the mechanism broke, not bad luck.
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
           "export-controls", "sweep-gap-local", "uncertainty"]
SINGLE = ["baseline", "gap-collapses", "gap-compounds", "price-war", "local-surge",
          "capital-crunch", "export-controls"]
PATHS, COUNT, YEARS = 16, 300, 5.0
Z = 3.0  # standard errors a comparative difference must exceed


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


def test_reader_flattens_labs_by_name():
    flat = cal.flatten(cal.read_cfg(str(SCEN / "baseline.cfg")))
    assert flat["quality_gap.initial"] == pytest.approx(0.04)
    kinds = {k.split(".")[1]: v for k, v in flat.items() if k.startswith("labs.") and k.endswith(".kind")}
    assert sorted(set(kinds.values())) == ["closed", "open"]


# ------------------------------------------------------------------------------------------
# The baseline's start inside the calibration targets.
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def baseline_start(tmp_path_factory):
    out = tmp_path_factory.mktemp("calib") / "baseline.h5"
    moatsim("run", SCEN / "baseline.cfg", "-o", out, "--paths", PATHS, "--set", "horizon_years=1.25",
            "--quiet", "--force")
    return cal.evaluate(cal.Summary(str(out)), cal.flatten(cal.read_cfg(str(SCEN / "baseline.cfg"))))


@pytest.mark.parametrize("index", [i for i, t in enumerate(cal.TARGETS) if t.judge != "late"],
                         ids=[t.figure[:40] for t in cal.TARGETS if t.judge != "late"])
def test_baseline_lands_inside_target(baseline_start, index):
    row = baseline_start[index]
    t = row["target"]
    assert not row.get("error"), f"{t.figure}: {row.get('error')}"
    value = row["v1"] if t.judge == "1y" else row["v0"]
    assert row["inside"], (f"{t.figure}: baseline gives {cal.fmt_value(value, t.fmt)}, "
                           f"target {t.target_text()} ({', '.join(t.sources)})")


# ------------------------------------------------------------------------------------------
# Comparative results of the library (reduced runs).
# ------------------------------------------------------------------------------------------
class Run:
    """Summaries of one reduced run: mean, sd and count of a quantity at the last step."""

    def __init__(self, path):
        self.s = cal.Summary(str(path))

    def market(self, metric):
        s = self.s
        return (float(s.market(metric)[-1]), float(s.market(metric, "std")[-1]),
                float(s.market(metric, "count")[-1]))

    def labs(self, metric, labs, combine="sum"):
        """Sum (or mean) over `labs` of a lab metric at the last step; its sd is bounded by the
        sum (or mean) of the labs' sds; the count is the smallest of the labs'."""
        s = self.s
        idx = [s.labs.index(name) for name in labs] if labs and isinstance(labs[0], str) else labs
        m = np.array([s.lab(metric)[i, -1] for i in idx])
        sd = np.array([s.lab(metric, "std")[i, -1] for i in idx])
        n = min(float(s.lab(metric, "count")[i, -1]) for i in idx)
        f = np.sum if combine == "sum" else np.mean
        return float(f(m)), float(f(sd)), n


def lower(a, b, what):
    """Assert a's mean is below b's by more than Z standard errors."""
    (ma, sa, na), (mb, sb, nb) = a, b
    se = np.sqrt(sa * sa / max(na, 1) + sb * sb / max(nb, 1))
    assert mb - ma > Z * se, f"{what}: {ma:.4g} is not below {mb:.4g} by {Z} SE (SE = {se:.3g})"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("library")
    out = {}
    for name in SINGLE:
        path = tmp / f"{name}.h5"
        moatsim("run", SCEN / f"{name}.cfg", "-o", path, "--paths", PATHS,
                "--set", f"enterprises.count={COUNT}", "--set", f"horizon_years={YEARS}",
                "--quiet", "--force")
        out[name] = Run(path)
    return out


def test_gap_collapse_lowers_the_premium(runs):
    lower(runs["gap-collapses"].market("premium_flagship"), runs["gap-compounds"].market("premium_flagship"),
          "flagship premium at the end, gap-collapses vs gap-compounds")


def test_gap_collapse_lowers_closed_rerating(runs):
    closed = runs["gap-collapses"].s.closed()
    lower(runs["gap-collapses"].labs("rerating", closed, "mean"),
          runs["gap-compounds"].labs("rerating", closed, "mean"),
          "closed labs' mean re-rating at the end, gap-collapses vs gap-compounds")


def test_local_surge_has_the_highest_local_share(runs):
    surge = runs["local-surge"].market("share_local")
    for name in SINGLE:
        if name != "local-surge":
            lower(runs[name].market("share_local"), surge, f"local share, {name} vs local-surge")


def test_capital_crunch_dilutes_most(runs):
    def most_diluted(run):
        s = run.s
        dil = s.lab("dilution")[:, -1]
        return run.labs("dilution", [int(np.nanargmax(dil))], "sum")
    crunch = most_diluted(runs["capital-crunch"])
    for name in SINGLE:
        if name != "capital-crunch":
            lower(most_diluted(runs[name]), crunch, f"largest dilution, {name} vs capital-crunch")


def test_export_controls_lower_the_restricted_origin(runs):
    flat = cal.flatten(cal.read_cfg(str(SCEN / "export-controls.cfg")))
    restricted = flat["governance.restricted_origins"]
    labs = sorted({k.split(".")[1] for k, v in flat.items()
                   if k.startswith("labs.") and k.endswith(".origin") and v in restricted})
    assert labs, "export-controls.cfg restricts no origin of its labs"
    ctrl, base = runs["export-controls"], runs["baseline"]
    lower(ctrl.labs("volume", labs), base.labs("volume", labs),
          f"volume sold by {', '.join(labs)}, export-controls vs baseline")
    share = lambda r: r.labs("volume", labs)[0] / r.market("volume_total")[0]  # noqa: E731
    assert share(ctrl) < share(base), "restricted origin's share of volume did not fall"
