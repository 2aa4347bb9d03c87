"""analysis.plots on real result files: each figure has the expected axes, and the data drawn
are the file's values (read back independently with h5py)."""
import h5py
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle

from analysis import plots
from conftest import GRID_AXES, LAB_KINDS, LABS, LHS_AXES, LHS_SAMPLES, QUANTILES

CLOSED = [n for n, k in zip(LABS, LAB_KINDS) if k == "closed"]
SHARES = ("share_closed", "share_open_cloud", "share_open_first_party", "share_local")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def h5(path, name):
    with h5py.File(path, "r") as f:
        return f[name][()]


def param_var(key):
    """The /params variable of a dotted key (its CF name, docs/output.md)."""
    return "params/" + key.replace(".", "_").replace("-", "_")


def drawn_lines(ax):
    return [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 0]


def test_fan_chart(grid, grid_file):
    fig = plots.fan_chart(grid, "premium_flagship")
    axes = fig.axes
    assert len(axes) == grid.n_scenarios
    # titles in words with the unit; panels named by the scenarios' swept values, not "#0"
    assert fig._suptitle.get_text().startswith("Flagship price premium") and "[×]" in fig._suptitle.get_text()
    assert axes[0].get_ylabel() == "price premium [×]"
    (k0, v0), (k1, v1) = GRID_AXES
    for s, ax in enumerate(axes):  # grid order: last axis fastest
        x, y = v0[s // len(v1)], v1[s % len(v1)]
        assert ax.get_title() == f"long_run = {x:.3g}, cost_decline_per_year = {y:.3g}"
    t = h5(grid_file, "market/time") / 360.0  # days of 360-day years -> years (docs/output.md)
    q = h5(grid_file, "market/premium_flagship_quantile")  # (scenario, quantile, time)
    mean = h5(grid_file, "market/premium_flagship_mean")
    for s, ax in enumerate(axes):
        bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
        assert len(bands) == len(QUANTILES) // 2  # 5-95 % and 25-75 %
        median, avg = drawn_lines(ax)[:2]
        np.testing.assert_array_equal(median.get_xdata(), t)
        np.testing.assert_array_equal(median.get_ydata(), q[s, QUANTILES.index(0.5)])
        np.testing.assert_array_equal(avg.get_ydata(), mean[s])
        assert np.isfinite(median.get_ydata()).any()
        assert ax.get_xlabel() == "time [years]"
    # the outer band spans the 5 % .. 95 % quantiles
    verts = [c for c in axes[0].collections if isinstance(c, PolyCollection)][0].get_paths()[0].vertices
    assert verts[:, 1].min() == pytest.approx(np.nanmin(q[0, 0]))
    assert verts[:, 1].max() == pytest.approx(np.nanmax(q[0, -1]))


def test_fan_chart_of_a_lab_metric_limits_panels(lhs):
    fig = plots.fan_chart(lhs, "rerating", lab="closed-a", max_panels=3)
    assert len(fig.axes) == 3
    for ax in fig.axes:
        assert np.isfinite(drawn_lines(ax)[0].get_ydata()).all()


def test_market_shares_stack_to_one(grid, grid_file):
    fig = plots.market_shares(grid)
    assert len(fig.axes) == grid.n_scenarios
    means = np.stack([h5(grid_file, f"market/{m}_mean") for m in SHARES])  # (4, scenario, time)
    for s, ax in enumerate(fig.axes):
        layers = [c for c in ax.collections if isinstance(c, PolyCollection)]
        assert len(layers) == len(SHARES)
        top = layers[-1].get_paths()[0].vertices[:, 1].max() / 100  # drawn in %
        # shares add up to 1 on every path (MODEL.md §8), so do their means
        np.testing.assert_allclose(means[:, s].sum(axis=0), 1.0, atol=1e-9)
        assert top == pytest.approx(1.0, abs=1e-9)
        assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
            "closed labs", "open models on clouds", "open labs' own APIs", "local inference",
            "closed labs, 5–95 % of paths"]
        # the spread: the closed share's 5 % and 95 % quantiles across paths, in %
        q = h5(grid_file, "market/share_closed_quantile")  # (scenario, quantile, time)
        dotted = [ln for ln in ax.get_lines() if ln.get_linestyle() == ":"]
        np.testing.assert_allclose(dotted[0].get_ydata(), 100 * q[s, 0], rtol=1e-12)
        np.testing.assert_allclose(dotted[1].get_ydata(), 100 * q[s, -1], rtol=1e-12)


def test_heatmap_cells_are_the_grid_scenarios(grid, grid_file):
    (k0, v0), (k1, v1) = GRID_AXES
    fig = plots.heatmap(grid, "premium_flagship")
    ax = fig.axes[0]
    img = [a for a in ax.get_children() if isinstance(a, AxesImage)][0]
    z = np.asarray(img.get_array())
    assert z.shape == (len(v1), len(v0))  # rows: y = second axis; columns: x = first axis
    assert ax.get_xlabel().startswith(k0) and ax.get_ylabel().startswith(k1)
    assert ax.get_title().startswith("Flagship price premium")
    assert fig.axes[1].get_ylabel().endswith("[×]")  # the colour bar says the unit
    mean = h5(grid_file, "market/premium_flagship_mean")[:, -1]
    for i, y in enumerate(v1):
        for j, x in enumerate(v0):
            s = j * len(v1) + i  # grid order: last axis fastest
            assert z[i, j] == pytest.approx(mean[s], rel=1e-12)
    texts = [t.get_text() for t in ax.texts if t.get_text()]
    assert len(texts) == z.size
    # each cell also gives the spread across paths: [5 %, 95 %] quantiles at the horizon
    q = h5(grid_file, "market/premium_flagship_quantile")[:, :, -1]  # (scenario, quantile)
    s = 0  # cell (i=0, j=0) is scenario 0
    assert texts[0] == f"{mean[s]:.3g}\n[{q[s, 0]:.3g}, {q[s, -1]:.3g}]"


def test_heatmap_needs_two_parameters(lhs):
    fig = plots.heatmap(lhs, "share_closed", LHS_AXES[0][0], LHS_AXES[2][0])
    z = np.asarray([a for a in fig.axes[0].get_children() if isinstance(a, AxesImage)][0].get_array())
    assert z.shape == (LHS_SAMPLES, LHS_SAMPLES)  # lhs values are all distinct
    assert np.isfinite(z).sum() == LHS_SAMPLES  # one filled cell per scenario


def test_distributions_from_paths(grid, grid_file):
    fig = plots.distributions(grid, scenario=1)
    assert len(fig.axes) == 3
    rerating = h5(grid_file, "paths/labs/rerating")  # (scenario, path, lab, time)
    for ax, metric in zip(fig.axes, ("rerating", "dilution", "dcf_ratio")):
        assert [t.get_text() for t in ax.get_xticklabels()] == CLOSED
        dots = [ln for ln in ax.get_lines() if ln.get_marker() == "."]
        assert len(dots) == len(CLOSED) and all(len(d.get_ydata()) > 0 for d in dots)
        assert ax.get_ylabel() == {"rerating": "re-rating [×]", "dilution": "dilution [×]",
                                   "dcf_ratio": "DCF / valuation [×]"}[metric]
    dots = [ln for ln in fig.axes[0].get_lines() if ln.get_marker() == "."]
    for k, lab in enumerate(CLOSED):
        want = rerating[1, :, LABS.index(lab), -1]
        np.testing.assert_array_equal(np.sort(dots[k].get_ydata()), np.sort(want[np.isfinite(want)]))


def test_distributions_from_quantiles(lhs, lhs_file):
    fig = plots.distributions(lhs, scenario=2)
    q = h5(lhs_file, "labs/dilution_quantile")  # (scenario, quantile, lab, time)
    ax = fig.axes[1]
    assert [t.get_text() for t in ax.get_xticklabels()] == CLOSED
    medians = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 2 and ln.get_ydata()[0] == ln.get_ydata()[1]]
    got = sorted({float(ln.get_ydata()[0]) for ln in medians})
    for lab in CLOSED:
        med = q[2, QUANTILES.index(0.5), LABS.index(lab), -1]
        assert any(np.isclose(g, med, rtol=1e-12) for g in got), lab


def slow_spearman(x, y):
    """Rank correlation the obvious way: ranks by double argsort (values are distinct here),
    then the Pearson coefficient of the ranks."""
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx * ry).sum() / np.sqrt((rx ** 2).sum() * (ry ** 2).sum()))


@pytest.mark.parametrize("design", ["lhs", "sobol"])
def test_tornado_spearman(design, request):
    res, path = request.getfixturevalue(design), request.getfixturevalue(design + "_file")
    assert res.sweep_method == design and res.n_scenarios == LHS_SAMPLES
    fig = plots.tornado(res, "premium_flagship")
    ax = fig.axes[0]
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert sorted(labels) == sorted(k for k, _, _ in LHS_AXES)
    y = h5(path, "market/premium_flagship_mean")[:, -1]
    widths = {lab: bar.get_width() for lab, bar in zip(labels, bars)}
    for key in labels:
        x = h5(path, param_var(key))
        assert widths[key] == pytest.approx(slow_spearman(x, y), abs=1e-12)
    # sorted by influence, largest on top (the last bar)
    assert [abs(w) for w in widths.values()] == sorted(abs(w) for w in widths.values())


def test_tornado_standardized_regression(lhs, lhs_file):
    coef = plots.sensitivity(lhs, "share_closed", method="src")
    # slow version: normal equations on z-scores
    X = np.column_stack([h5(lhs_file, param_var(k)) for k, _, _ in LHS_AXES])
    y = h5(lhs_file, "market/share_closed_mean")[:, -1]
    Z = (X - X.mean(0)) / X.std(0)
    zy = (y - y.mean()) / y.std()
    beta = np.linalg.solve(Z.T @ Z, Z.T @ zy)
    np.testing.assert_allclose([coef[k] for k, _, _ in LHS_AXES], beta, rtol=1e-8, atol=1e-10)
    fig = plots.tornado(lhs, "share_closed", method="src")
    assert "standardized regression" in fig.axes[0].get_xlabel()


def test_tornado_needs_a_sweep(grid):
    one = grid.isel(scenario=[0, 1])
    with pytest.raises(ValueError, match="at least 3 scenarios"):
        plots.tornado(one)
