"""`moatsim report FILE -o DIR` (sim/report.c -> python -m analysis.report) on real result files."""
import html
import os
import pathlib
import re
import shutil
import subprocess

import h5py

from conftest import moatsim_binary, run_moatsim

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def images(index):
    return re.findall(r'<img src="([^"]+)"', index.read_text(encoding="utf-8"))


def check_report(out, result_file):
    index = out / "index.html"
    text = index.read_text(encoding="utf-8")
    files = images(index)
    assert files, "no figure in the report"
    for name in files:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, name
    with h5py.File(result_file, "r") as f:
        for key in ("git_revision", "moatsim_version", "command_line"):
            value = f.attrs[key]
            value = value.decode() if isinstance(value, bytes) else str(value)
            assert html.escape(value) in text, key
    assert (out / "headline.csv").read_text().count("\n") >= 2
    return files, text


def test_report_of_a_grid_sweep(grid_file, tmp_path):
    out = tmp_path / "report"
    proc = run_moatsim(["report", grid_file, "-o", out])
    assert proc.stdout.strip().endswith("index.html")
    files, text = check_report(out, grid_file)
    assert {"premium_fan.png", "market_shares.png", "closed_labs.png",
            "heatmap_premium_flagship.png"} <= set(files)
    assert "Headline numbers" in text and "Provenance" in text


def test_report_of_an_lhs_sweep_has_tornado_charts(lhs_file, tmp_path):
    out = tmp_path / "report"
    run_moatsim(["report", lhs_file, "-o", out, "--scenario", "3"])
    files, _ = check_report(out, lhs_file)
    assert "tornado_premium_flagship.png" in files
    assert not any(f.startswith("heatmap") for f in files)


def test_report_of_a_missing_file_fails_clearly(tmp_path):
    proc = run_moatsim(["report", tmp_path / "nope.h5", "-o", tmp_path / "r"], check=False)
    assert proc.returncode == 1
    assert "nope.h5" in proc.stderr and "moatsim run" in proc.stderr


def test_report_without_python_fails_clearly(grid_file, tmp_path):
    proc = run_moatsim(["report", grid_file, "-o", tmp_path / "r"], check=False,
                       env={"MOATSIM_PYTHON": str(tmp_path / "no-python")})
    assert proc.returncode == 1
    assert "no-python" in proc.stderr and "MOATSIM_PYTHON" in proc.stderr


def test_report_without_the_package_fails_clearly(grid_file, tmp_path):
    # A copy of the binary in a directory with no ../analysis nor ../share/moatsim/python next to it.
    lone = tmp_path / "a" / "b" / "c" / "moatsim"
    lone.parent.mkdir(parents=True)
    shutil.copy(moatsim_binary(), lone)
    proc = subprocess.run([str(lone), "report", str(grid_file), "-o", str(tmp_path / "r")],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "analysis" in proc.stderr and "not found" in proc.stderr
    assert str(tmp_path / "a" / "b" / "c") in proc.stderr


def test_report_finds_the_installed_package(grid_file, tmp_path):
    # The layout `make install` writes: PREFIX/bin/moatsim and PREFIX/share/moatsim/python/analysis.
    prefix = tmp_path / "prefix"
    (prefix / "bin").mkdir(parents=True)
    shutil.copy(moatsim_binary(), prefix / "bin" / "moatsim")
    shutil.copytree(pathlib.Path(__file__).resolve().parents[2] / "analysis",
                    prefix / "share" / "moatsim" / "python" / "analysis",
                    ignore=shutil.ignore_patterns("__pycache__", "notebooks"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # only what moatsim sets
    out = tmp_path / "r"
    proc = subprocess.run([str(prefix / "bin" / "moatsim"), "report", str(grid_file), "-o", str(out)],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    check_report(out, grid_file)
