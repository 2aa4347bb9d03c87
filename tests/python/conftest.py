"""Fixtures of the Python tests: small real result files written by `$MOATSIM run` once per session.

Environment: MOATSIM = path of the moatsim binary (default bin/moatsim of this tree),
PYTHONPATH = the repository root (so that `import analysis` finds the package).
"""
import os
import pathlib
import subprocess

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

import analysis  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
DATA = pathlib.Path(__file__).resolve().parent / "data"

# What data/grid.cfg and data/lhs.cfg say, restated for the assertions.
PATHS = 6
ENTERPRISES = 60
HORIZON_YEARS = 2.0
STEPS_PER_YEAR = 12
LABS = ["closed-a", "closed-b", "open-a", "open-b"]
LAB_KINDS = ["closed", "closed", "open", "open"]
LAB_ORIGINS = ["us", "us", "cn", "eu"]
CLOUDS = ["hyperscaler", "wafer-scale"]
QUANTILES = [0.05, 0.25, 0.5, 0.75, 0.95]  # output.quantiles default (MODEL.md §8)
GRID_AXES = [("quality_gap.long_run", [0.01, 0.06]),
             ("price_compression.cost_decline_per_year", [0.2, 0.6])]
LHS_AXES = [("quality_gap.long_run", 0.005, 0.08),
            ("price_compression.cost_decline_per_year", 0.1, 0.6),
            ("enterprises.taste_dispersion", 0.06, 0.24)]
LHS_SAMPLES = 8
LIST_HORIZONS = [1.0, 2.0]


def moatsim_binary() -> str:
    exe = os.environ.get("MOATSIM") or str(REPO / "bin" / "moatsim")
    if not os.access(exe, os.X_OK):
        pytest.fail(f"MOATSIM = {exe} is not an executable file: build it with `make` "
                    "(`make python-tests` sets MOATSIM and PYTHONPATH)")
    return exe


def run_moatsim(args, check=True, env=None) -> subprocess.CompletedProcess:
    """Run the moatsim binary with `args`; on failure (when check) fail with its stderr."""
    cmd = [moatsim_binary(), *map(str, args)]
    full_env = {**os.environ, "OMP_NUM_THREADS": "2", **(env or {})}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=600)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited with {proc.returncode}:\n{proc.stderr}")
    return proc


def write_result(cfg: pathlib.Path, out: pathlib.Path, *extra) -> pathlib.Path:
    run_moatsim(["run", cfg, "-o", out, "--paths", PATHS, "--set", f"enterprises.count={ENTERPRISES}",
                 "--quiet", "--force", *extra])
    return out


def _sweep_file(factory, name: str, *extra) -> pathlib.Path:
    return write_result(DATA / f"{name}.cfg", factory.mktemp(name) / f"{name}.h5", *extra)


def _open(path):
    res = analysis.load(path)
    yield res
    res.close()


@pytest.fixture(scope="session")
def grid_file(tmp_path_factory) -> pathlib.Path:
    """2 x 2 grid sweep with every path kept (--keep-paths)."""
    return _sweep_file(tmp_path_factory, "grid", "--keep-paths")


@pytest.fixture(scope="session")
def lhs_file(tmp_path_factory) -> pathlib.Path:
    """Latin-hypercube sweep of 3 parameters, summaries only."""
    return _sweep_file(tmp_path_factory, "lhs")


@pytest.fixture(scope="session")
def sobol_file(tmp_path_factory) -> pathlib.Path:
    """Sobol sweep over the same 3 parameter ranges as lhs.cfg, summaries only."""
    return _sweep_file(tmp_path_factory, "sobol")


@pytest.fixture(scope="session")
def list_file(tmp_path_factory) -> pathlib.Path:
    """List sweep of two scenarios with horizons of 1 and 2 years."""
    return _sweep_file(tmp_path_factory, "list")


@pytest.fixture(scope="session")
def grid(grid_file):
    yield from _open(grid_file)


@pytest.fixture(scope="session")
def lhs(lhs_file):
    yield from _open(lhs_file)


@pytest.fixture(scope="session")
def sobol(sobol_file):
    yield from _open(sobol_file)


def pytest_configure(config):
    # Debian's netCDF4 module was built against another numpy ABI revision and says so once at
    # import; values are unaffected (test_both_engines_read_the_same_values compares them).
    config.addinivalue_line("filterwarnings", "ignore:numpy.ndarray size changed:RuntimeWarning")
