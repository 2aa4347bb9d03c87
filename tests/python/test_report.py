"""`moatsim report FILE -o DIR` (sim/cli/report.c -> python -m analysis.report) on real result files."""
import html
import os
import pathlib
import re
import shutil
import subprocess

import h5py
import numpy as np

from conftest import DATA, GRID_AXES, LHS_AXES, LHS_SAMPLES, moatsim_binary, run_moatsim, write_result

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
    assert proc.returncode == 2  # an input error, as for summary and info
    assert "nope.h5" in proc.stderr and "moatsim run" in proc.stderr


def test_report_scenario_out_of_range_is_an_input_error(grid_file, tmp_path):
    proc = run_moatsim(["report", grid_file, "-o", tmp_path / "r", "--scenario", "4"], check=False)
    assert proc.returncode == 2
    assert "--scenario 4" in proc.stderr and "0 to 3" in proc.stderr


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


def scenario_columns(text):
    """Heads of the headline table's scenario columns."""
    table = text[text.index("<h2>Headline numbers</h2>"):]
    head = re.search(r"<tr>(.*?)</tr>", table, re.S).group(1)
    return [re.sub("<br>", ", ", h) for h in re.findall(r"<th>(.*?)</th>", head)]


def test_report_names_scenarios_by_their_values(grid_file, tmp_path):
    out = tmp_path / "report"
    run_moatsim(["report", grid_file, "-o", out])
    text = (out / "index.html").read_text(encoding="utf-8")
    (k0, v0), (k1, v1) = GRID_AXES
    want = [f"{k0.rsplit('.', 1)[1]} = {x:.3g}, {k1.rsplit('.', 1)[1]} = {y:.3g}" for x in v0 for y in v1]
    assert scenario_columns(text) == want
    story = text.split("<body>", 1)[1].split("<h2>Provenance</h2>")[0]
    assert re.search(r"#\d", story) is None  # no "#0"-style scenario names
    # a sweep opens with its design, not with the story of one scenario
    assert text.index("<h2>The sweep</h2>") < text.index("<h2>Headline numbers</h2>")
    assert "incomplete" not in text.lower()


def grid9(factory) -> pathlib.Path:
    """A 3 x 3 grid: the sweep the report used to cut to 6 panels and 8 table columns."""
    text = (DATA / "grid.cfg").read_text()
    text = text.replace("values = [0.01, 0.06]", "values = [0.01, 0.03, 0.06]")
    text = text.replace("values = [0.2, 0.6]", "values = [0.2, 0.4, 0.6]")
    cfg = factory.mktemp("grid9") / "grid9.cfg"
    cfg.write_text(text)
    return write_result(cfg, cfg.with_suffix(".h5"))


def test_every_scenario_of_a_9_scenario_grid_is_shown(tmp_path_factory, tmp_path):
    import analysis
    from analysis import plots

    path = grid9(tmp_path_factory)
    with analysis.load(path) as res:
        assert res.n_scenarios == 9
        assert len(plots.fan_chart(res).axes) == 9
        assert len(plots.market_shares(res).axes) == 9
    out = tmp_path / "report"
    run_moatsim(["report", path, "-o", out])
    cols = scenario_columns((out / "index.html").read_text(encoding="utf-8"))
    assert len(cols) == 9 and len(set(cols)) == 9


def test_lhs_report_opens_with_the_design(lhs_file, tmp_path):
    out = tmp_path / "report"
    run_moatsim(["report", lhs_file, "-o", out])
    text = (out / "index.html").read_text(encoding="utf-8")
    body = text[text.index("<body>"):]
    first_h2 = re.search(r"<h2>(.*?)</h2>", body).group(1)
    assert first_h2 == "The sweep"
    assert f"<b>lhs</b> sweep of <b>{LHS_SAMPLES}</b> scenarios" in text
    with h5py.File(lhs_file, "r") as f:
        def key_of(name, v):  # format 2 names variables for netCDF tools, the dotted key in `key`
            key = v.attrs.get("key", name)
            return key.decode() if isinstance(key, bytes) else str(key)
        by_key = {key_of(name, v): v for name, v in f["params"].items()}
        for key, lo, hi in LHS_AXES:
            v = by_key[key][()]
            assert lo <= v.min() and v.max() <= hi
            assert f"{LHS_SAMPLES} values in [{v.min():.4g}, {v.max():.4g}]" in text, key


def test_two_files_side_by_side(grid_file, lhs_file, tmp_path):
    out = tmp_path / "cmp"
    proc = run_moatsim(["report", grid_file, lhs_file, "-o", out])
    assert proc.stdout.strip() == str(out / "index.html")
    text = (out / "index.html").read_text(encoding="utf-8")
    cols = re.search(r"<tr>(.*?)</tr>", text[text.index("side by side"):], re.S).group(1).count("<th>")
    assert cols == 4 + LHS_SAMPLES  # every scenario of both files
    for name in ("grid", "lhs"):
        assert (out / name / "index.html").exists() and f'href="{name}/index.html"' in text
    assert images(out / "index.html") == ["compare_premium_flagship.png", "compare_share_closed.png"]


def test_incomplete_file_says_so_first(tmp_path):
    part = write_result(DATA / "grid.cfg", tmp_path / "part0.h5", "--shard", "0/2")
    with h5py.File(part, "r") as f:
        done = f["market/scenario_done"][()]
    assert list(done) == [1, 0, 1, 0]  # shard 0 of 2 writes scenarios 0 and 2
    out = tmp_path / "report"
    proc = run_moatsim(["report", part, "-o", out])
    assert "Incomplete file: 2 of 4 scenarios written" in proc.stderr
    for page in ("index.html",):
        body = (out / page).read_text(encoding="utf-8").split("<body>", 1)[1]
        assert body.startswith('<p class="warn" id="incomplete">Incomplete file: 2 of 4 scenarios written')
        assert "missing: 1, 3" in body
    assert len(scenario_columns((out / "index.html").read_text(encoding="utf-8"))) == 2
