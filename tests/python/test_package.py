"""The analysis package as users install it: `pip install .` into a fresh venv (offline, Debian's
setuptools) followed by README's Python example from another directory; `make install` finding
its scenario library; the notebook executed by `jupyter nbconvert` from another directory."""
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, run_moatsim

CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MOATSIM_SCENARIOS")}


def readme_python() -> str:
    """The README's Python example (the first ```python block)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.search(r"```python\n(.*?)```", text, re.S).group(1)


def run(cmd, cwd, env=None, timeout=600):
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                          env={**CLEAN_ENV, **(env or {})}, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def library_names() -> list:
    return sorted(p.name for p in (REPO / "scenarios").glob("*.cfg"))


def test_pip_install_then_the_readme_example_from_another_directory(tmp_path):
    # A copy of what the package is built from, so that the build leaves the tree alone.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for name in ("analysis", "scenarios"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--system-site-packages", venv], tmp_path)
    py = venv / "bin" / "python"
    run([venv / "bin" / "pip", "install", "--no-build-isolation", "--no-index", "--quiet", src], tmp_path)

    work = tmp_path / "elsewhere"
    (work / "results").mkdir(parents=True)
    where = run([py, "-c", "import analysis; print(analysis.scenarios_dir()); print(analysis.notebook_path())"],
                work).stdout.split()
    site = str(venv / "lib")
    assert where[0].startswith(site) and where[1].startswith(site)  # found in the installed package
    assert sorted(os.listdir(where[0])) == library_names()
    run_moatsim(["run", os.path.join(where[0], "baseline.cfg"), "-o", work / "results" / "baseline.h5",
                 "--paths", "4", "--set", "enterprises.count=60", "--set", "horizon_years=2", "--quiet"])
    out = run([py, "-c", readme_python()], work).stdout
    assert where[0] in out  # the example prints where the library is
    assert re.search(r"^\d+(\.\d+)?$", out.strip().splitlines()[-1])  # and a median premium
    check = run([py, "-m", "analysis.calibration", "check-library"], work).stdout
    assert f"{len(library_names()) - 1} library files checked" in check and ": 0 problem(s)" in check


def test_make_install_finds_its_scenarios(tmp_path):
    dest = tmp_path / "dest"
    run(["make", "-s", "--no-print-directory", "install", f"DESTDIR={dest}", "PREFIX=/opt/moatsim"], REPO)
    python_dir = dest / "opt" / "moatsim" / "share" / "moatsim" / "python"
    env = {"PYTHONPATH": str(python_dir)}
    out = run([sys.executable, "-c", "import analysis; print(analysis.scenarios_dir())"], tmp_path, env).stdout
    assert out.strip() == str(dest / "opt" / "moatsim" / "share" / "moatsim" / "scenarios")
    check = run([sys.executable, "-m", "analysis.calibration", "check-library"], tmp_path, env).stdout
    assert ": 0 problem(s)" in check
    assert (python_dir / "analysis" / "notebooks" / "explore.ipynb").exists()


def test_notebook_runs_with_jupyter_nbconvert_from_another_directory(grid_file, tmp_path):
    exe = shutil.which("jupyter-nbconvert") or shutil.which("jupyter")
    if not exe:
        pytest.fail("jupyter nbconvert is not installed: `make deps` installs Debian's jupyter-nbconvert")
    cmd = [exe] + ([] if exe.endswith("nbconvert") else ["nbconvert"])
    notebook = REPO / "analysis" / "notebooks" / "explore.ipynb"
    run(cmd + ["--to", "html", "--execute", "--output-dir", tmp_path / "out", notebook], tmp_path,
        {"MOATSIM_RESULT": str(grid_file), "MPLBACKEND": "Agg", "PYDEVD_DISABLE_FILE_VALIDATION": "1"})
    page = (tmp_path / "out" / "explore.html").read_text(encoding="utf-8")
    assert str(grid_file) in page and page.count("data:image/png") >= 4
    assert "Traceback" not in page
