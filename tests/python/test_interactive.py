"""The interactive page (analysis.interactive) in a real browser: headless Chromium loads it from
file://, runs its scripts, and the test reads the DOM they built (--dump-dom): plotly drew every
chart, and the selector, set through the page's address (#name=value, which dispatches the
selector's change event), redraws them for another scenario. A screenshot lands in tmp_path."""
import json
import re
import shutil
import subprocess

import h5py
import numpy as np
import pytest

import analysis
from analysis import interactive
from conftest import GRID_AXES


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.fail("chromium is not installed: `make deps` installs Debian's chromium")
    return exe


def browse(page, tmp_path, fragment="", screenshot=None) -> str:
    """The DOM of file://page#fragment after its scripts ran (virtual time: no waiting on the clock)."""
    args = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000",
            "--window-size=1200,1600"]
    args += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    proc = subprocess.run(args + [page.as_uri() + (f"#{fragment}" if fragment else "")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def traces(dom: str, chart: str) -> list:
    """The 'd' attributes of the line paths plotly drew in the chart's div."""
    start = dom.index(f'id="{chart}"')
    end = dom.find('class="chart', start + 10)
    part = dom[start:end if end > 0 else len(dom)]
    return re.findall(r'<path class="js-line" d="([^"]+)"', part)


@pytest.fixture(scope="module")
def page(grid_file, tmp_path_factory):
    path = tmp_path_factory.mktemp("interactive") / "interactive.html"
    with analysis.load(grid_file) as res:
        interactive.write(res, str(path), "grid")
    return path


def test_page_is_self_contained(page):
    text = page.read_text(encoding="utf-8")
    assert "<script src=" not in text and "<link " not in text  # plotly.js is inlined
    assert "Plotly.react" in text and len(text) > 1_000_000


def test_charts_render_and_the_selector_redraws_them(page, grid_file, tmp_path):
    first = browse(page, tmp_path)
    charts = re.findall(r'<div class="chart[^"]*" id="([^"]+)"', first)
    assert "fan-premium_flagship" in charts and "fan-share_closed" in charts
    # plotly built an SVG per chart, with a line per band edge, the median and the mean
    assert first.count('class="main-svg"') >= len(charts)
    assert 'data-scenario="0"' in first
    lines0 = traces(first, "fan-premium_flagship")
    assert len(lines0) >= 6

    (k0, v0), (k1, v1) = GRID_AXES
    short0, short1 = k0.rsplit(".", 1)[1], k1.rsplit(".", 1)[1]
    dom = browse(page, tmp_path, f"{short0}={v0[1]:.4g}&{short1}={v1[1]:.4g}")
    # grid order, last axis fastest: (v0[1], v1[1]) is scenario 3
    assert 'data-scenario="3"' in dom
    label = f"{short0} = {v0[1]:.3g}, {short1} = {v1[1]:.3g}"
    assert f'id="scenario-label">{label}<' in dom
    assert label in dom.split('id="fan-premium_flagship"', 1)[1]  # the chart's subtitle
    lines3 = traces(dom, "fan-premium_flagship")
    assert len(lines3) == len(lines0) and lines3 != lines0  # redrawn with scenario 3's data

    # the data behind the page is the file's: scenario 3's median premium, step by step
    data = json.loads(re.search(r'id="moatsim-data">(.*?)</script>', dom, re.S).group(1))
    with h5py.File(grid_file, "r") as f:
        q = f["market/premium_flagship_quantile"][()]  # (scenario, quantile, time)
        levels = list(f["market/quantile"][()])
    chart = next(c for c in data["charts"] if c["id"] == "fan-premium_flagship")
    got = np.array(chart["data"][3]["q"][levels.index(0.5)], dtype=float)
    np.testing.assert_allclose(got, q[3, levels.index(0.5)], rtol=1e-5)

    shot = tmp_path / "interactive.png"
    browse(page, tmp_path, f"{short0}={v0[1]:.4g}", screenshot=shot)
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
