"""Figures of a moatsim result (matplotlib, Agg-safe): each function returns a Figure.

fan_chart       quantile bands of a metric over time, one panel per scenario
market_shares   volume shares (closed, open on clouds, open first-party, local) over time
heatmap         a horizon metric over a two-parameter grid sweep
distributions   closed labs' re-rating, dilution and DCF ratio across paths
tornado         influence of the swept parameters on a metric (lhs / sobol sweeps)
"""
from __future__ import annotations

import math
import textwrap

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy import stats as sps  # noqa: E402

from analysis import labels  # noqa: E402

SHARES = (("share_closed", "closed labs", "#c0392b"),
          ("share_open_cloud", "open models on clouds", "#2e86c1"),
          ("share_open_first_party", "open labs' own APIs", "#85c1e9"),
          ("share_local", "local inference", "#27ae60"))
BAND_COLOR = "#2e86c1"
MAX_PANELS = 16  # small multiples: every scenario of a sweep up to this many panels


def _pick_scenarios(res, scenarios, max_panels: int) -> list[int]:
    """Scenario positions to draw: the given ones, or up to max_panels spread evenly."""
    if scenarios is not None:
        return [int(s) for s in np.atleast_1d(scenarios)]
    n = res.n_scenarios
    if n <= max_panels:
        return list(range(n))
    return sorted(set(np.linspace(0, n - 1, max_panels).round().astype(int).tolist()))


def _panels(n: int, width: float = 4.2, height: float = 3.0, sharey: bool = True):
    if n == 1:  # one scenario: one wide panel
        width, height = 2 * width, 1.4 * height
    cols = min(n, 3 if n <= 9 else 4)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows + 0.6), squeeze=False,
                             sharex=True, sharey=sharey)
    for ax in axes.flat[n:]:
        ax.remove()
    return fig, list(axes.flat[:n])


def _title(res, s: int, width: int = 44) -> str:
    """Panel title: the scenario's swept values (or its name), wrapped so that neighbouring
    panels do not collide."""
    return textwrap.fill(labels.scenario_label(res, s), width)


def _select(da, lab=None, cloud=None):
    if "lab" in da.dims:
        da = da.sel(lab=lab if lab is not None else da["lab"].values[0])
    if "cloud" in da.dims:
        da = da.sel(cloud=cloud if cloud is not None else da["cloud"].values[0])
    return da


def fan_chart(res, metric: str = "premium_flagship", group: str | None = None, scenarios=None,
              lab: str | None = None, cloud: str | None = None, max_panels: int = MAX_PANELS,
              logy: bool = False) -> Figure:
    """Fan chart of `metric` over time: nested quantile bands (outermost pair lightest), the
    median, and the mean dashed; one panel per scenario (every scenario up to max_panels).
    Shares are drawn in %."""
    k = labels.scale(metric)
    q = _select(res.stat(metric, "quantile", group), lab, cloud) * k
    mean = _select(res.stat(metric, "mean", group), lab, cloud) * k
    levels = q["quantile"].values
    picks = _pick_scenarios(res, scenarios, max_panels)
    fig, axes = _panels(len(picks))
    t = q["time"].values
    for ax, s in zip(axes, picks):
        qs = q.isel(scenario=s).transpose("quantile", "time").values
        n_pairs = len(levels) // 2
        for k in range(n_pairs):
            lo, hi = levels[k], levels[-1 - k]
            ax.fill_between(t, qs[k], qs[-1 - k], color=BAND_COLOR, alpha=0.18 + 0.22 * k, lw=0,
                            label=f"{lo * 100:g}–{hi * 100:g} %")
        mid = np.flatnonzero(np.isclose(levels, 0.5))
        if mid.size:
            ax.plot(t, qs[mid[0]], color="#1b4f72", lw=1.6, label="median")
        ax.plot(t, mean.isel(scenario=s).values, color="black", lw=1.0, ls="--", label="mean")
        ax.set_title(_title(res, s), fontsize=9)
        ax.grid(alpha=0.3)
        if logy:
            ax.set_yscale("log")
    for ax in axes:
        ax.set_xlabel("time [years]")
    unit = labels.metric_unit(metric, mean)
    axes[0].set_ylabel(labels.axis_label(metric, mean))
    axes[0].legend(fontsize=7, loc="best")
    what = labels.metric_title(metric, mean) + (f", {lab}" if lab else "") + (f", {cloud}" if cloud else "")
    fig.suptitle(textwrap.fill(f"{what}{f' [{unit}]' if unit else ''}: quantiles across paths", 110), fontsize=11)
    fig.tight_layout()
    return fig


def market_shares(res, scenarios=None, max_panels: int = MAX_PANELS) -> Figure:
    """Mean volume shares over time in %, stacked: closed labs, open models on clouds, open
    labs' first-party APIs, local inference; the spread across paths of the closed labs' share
    (5 % and 95 % quantiles) as dotted lines; one panel per scenario."""
    picks = _pick_scenarios(res, scenarios, max_panels)
    fig, axes = _panels(len(picks))
    t = res.time
    closed_q = res.stat("share_closed", "quantile", "market")
    levels = closed_q["quantile"].values
    for ax, s in zip(axes, picks):
        ys = [100 * res.stat(m, "mean", "market").isel(scenario=s).values for m, _, _ in SHARES]
        ax.stackplot(t, *ys, labels=[lab for _, lab, _ in SHARES], colors=[c for _, _, c in SHARES],
                     alpha=0.85)
        qs = 100 * closed_q.isel(scenario=s).transpose("quantile", "time").values
        ax.plot(t, qs[0], color="black", lw=0.9, ls=":",
                label=f"closed labs, {levels[0] * 100:g}–{levels[-1] * 100:g} % of paths")
        ax.plot(t, qs[-1], color="black", lw=0.9, ls=":")
        ax.set_ylim(0, 100)
        ax.set_xlim(t[0], t[-1])
        ax.set_title(_title(res, s), fontsize=9)
        ax.set_xlabel("time [years]")
    axes[0].set_ylabel("share of token volume [%]")
    axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle("Who serves the tokens: share of token volume [%], mean over paths "
                 "(dotted: spread of the closed labs' share across paths)", fontsize=11)
    fig.tight_layout()
    return fig


def _grid_axes(res, x, y):
    """The heatmap's parameters: as given, else the first two swept parameters."""
    if x is None or y is None:
        if len(res.swept) < 2:
            raise ValueError(f"a heatmap needs two swept parameters; {res.path} sweeps "
                             f"{len(res.swept)} ({', '.join(res.swept) or 'none'})")
        x, y = x or res.swept[0], y or res.swept[1]
    return x, y


def grid_table(res, metric: str, x: str | None = None, y: str | None = None, stat: str = "mean",
               group: str | None = None, lab: str | None = None, cloud: str | None = None,
               level: float = 0.5):
    """(x values, y values, matrix[y, x]) of `stat` of `metric` at the horizon over a
    two-parameter sweep ('quantile': the quantile `level`; 'median' = level 0.5); cells
    averaging several scenarios (other swept axes) are averaged."""
    x, y = _grid_axes(res, x, y)
    da = _select(res.horizon(metric, "quantile" if stat in ("median", "quantile") else stat, group), lab, cloud)
    if stat in ("median", "quantile"):
        da = da.sel(quantile=0.5 if stat == "median" else level, method="nearest")
    xv, yv, vals = res.param(x), res.param(y), da.values
    xs, ys = np.unique(xv), np.unique(yv)
    total = np.zeros((ys.size, xs.size))
    count = np.zeros((ys.size, xs.size))
    for xi, yi, v in zip(np.searchsorted(xs, xv), np.searchsorted(ys, yv), vals):
        if np.isfinite(v):
            total[yi, xi] += v
            count[yi, xi] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return xs, ys, np.where(count > 0, total / count, np.nan)


def heatmap(res, metric: str = "premium_flagship", x: str | None = None, y: str | None = None,
            stat: str = "mean", group: str | None = None, lab: str | None = None,
            cloud: str | None = None, cmap: str = "viridis") -> Figure:
    """Heatmap of `stat` ('mean', 'median') of `metric` at the horizon over a two-parameter
    grid: x and y default to the first two swept parameters; each cell is annotated."""
    x, y = _grid_axes(res, x, y)
    xs, ys, z = grid_table(res, metric, x, y, stat, group, lab, cloud)
    # The spread across paths in each cell: the outermost stored quantiles (5 % and 95 %).
    q = res.stat(metric, "quantile", group)["quantile"].values
    _, _, lo = grid_table(res, metric, x, y, "quantile", group, lab, cloud, level=q[0])
    _, _, hi = grid_table(res, metric, x, y, "quantile", group, lab, cloud, level=q[-1])
    k = labels.scale(metric)
    fig, ax = plt.subplots(figsize=(1.5 * xs.size + 3.8, 1.0 * ys.size + 2.6))
    im = ax.imshow(z * k, origin="lower", cmap=cmap, aspect="auto")
    ax.set_xticks(range(xs.size), [f"{v:.4g}" for v in xs])
    ax.set_yticks(range(ys.size), [f"{v:.4g}" for v in ys])
    ax.set_xlabel(labels.param_label(res, x))
    ax.set_ylabel(labels.param_label(res, y))
    finite = z[np.isfinite(z)] * k
    mid = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for (i, j), v in np.ndenumerate(z * k):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.3g}\n[{lo[i, j] * k:.3g}, {hi[i, j] * k:.3g}]", ha="center",
                    va="center", fontsize=8, color="white" if v < mid else "black")
    da = res.stat(metric, "mean", group)
    unit = labels.metric_unit(metric, da)
    fig.colorbar(im, ax=ax, label=f"{stat} across paths" + (f" [{unit}]" if unit else ""))
    what = (f"{labels.metric_title(metric, da)}: {stat} across paths "
            f"[{q[0] * 100:g}–{q[-1] * 100:g} % of paths]" + (f", {lab}" if lab else "")
            + (f", {cloud}" if cloud else ""))
    if "time" in da.dims:
        t_last = np.unique(res.time[res.last_step()])
        what += (f" at the last step, t = {t_last[0]:.3g} years" if t_last.size == 1
                 else " at each scenario's last step")
    ax.set_title(textwrap.fill(what, 80), fontsize=10)
    fig.tight_layout()
    return fig


def _box_from_quantiles(levels, qs, mean, label) -> dict:
    """matplotlib bxp statistics from summary quantiles: box 25–75 %, whiskers at the outermost
    quantiles stored (5–95 % by default), median line, mean marker."""
    def at(level):
        return float(qs[int(np.argmin(np.abs(levels - level)))])
    return dict(label=label, whislo=float(qs[0]), q1=at(0.25), med=at(0.5), q3=at(0.75),
                whishi=float(qs[-1]), mean=float(mean), fliers=[])


DISTRIBUTION_METRICS = (("rerating", "Re-rating of the revenue multiple", True),
                        ("dilution", "Dilution: shares over today's", True),
                        ("dcf_ratio", "DCF value over today's valuation", False))


def distributions(res, scenario: int = 0, labs=None) -> Figure:
    """Distributions across paths of the closed labs' re-rating and dilution at the horizon and
    of their DCF ratio, for one scenario. With --keep-paths data: box plots of the path values
    with the paths as dots; otherwise boxes drawn from the stored quantiles (box 25–75 %,
    whiskers at the outermost stored quantiles)."""
    labs = list(labs or res.closed_labs)
    paths = res.paths
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    for ax, (metric, title, at_horizon) in zip(axes, DISTRIBUTION_METRICS):
        if paths is not None and metric in paths["labs"]:
            da = paths["labs"][metric].isel(scenario=scenario)
            da = da.isel(time=res.last_step()[scenario]) if "time" in da.dims else da
            data = [da.sel(lab=lab).values for lab in labs]
            data = [d[np.isfinite(d)] for d in data]
            ax.boxplot(data, labels=labs, showmeans=True, whis=(5, 95), showfliers=False)
            for k, d in enumerate(data, start=1):
                jitter = np.random.default_rng(k).uniform(-0.12, 0.12, d.size)
                ax.plot(k + jitter, d, ".", color=BAND_COLOR, alpha=0.5, ms=4)
            source = "paths"
        else:
            q = res.horizon(metric, "quantile", "labs").isel(scenario=scenario)
            mean = res.horizon(metric, "mean", "labs").isel(scenario=scenario)
            levels = q["quantile"].values
            boxes = [_box_from_quantiles(levels, q.sel(lab=lab).values, mean.sel(lab=lab).values, lab)
                     for lab in labs]
            ax.bxp(boxes, showmeans=True)
            source = "quantiles"
        if metric == "dcf_ratio":  # DCF value = starting valuation, drawn only when in range
            lo, hi = ax.get_ylim()
            if lo <= 1.0 <= hi:
                ax.axhline(1.0, color="grey", lw=0.8, ls=":")
                ax.set_ylim(lo, hi)
        ax.set_title(title + (" at the horizon" if at_horizon else ""), fontsize=10)
        ax.set_ylabel(labels.axis_label(metric))
        ax.grid(axis="y", alpha=0.3)
        ax.tick_params(axis="x", labelrotation=20)
    fig.suptitle(textwrap.fill(f"Closed labs across paths ({source}): {labels.scenario_label(res, scenario)}",
                               110), fontsize=11)
    fig.tight_layout()
    return fig


def sensitivity(res, metric: str = "premium_flagship", stat: str = "mean", group: str | None = None,
                lab: str | None = None, cloud: str | None = None, method: str = "spearman") -> dict:
    """Influence of each swept parameter on `stat` of `metric` at the horizon across scenarios:
    method 'spearman' (rank correlation) or 'src' (standardized regression coefficients,
    least squares on z-scores). Returns {parameter: coefficient}."""
    if len(res.swept) < 1 or res.n_scenarios < 3:
        raise ValueError(f"sensitivity needs a sweep of at least 3 scenarios; {res.path} has "
                         f"{res.n_scenarios} scenario(s) and {len(res.swept)} swept parameter(s)")
    y = _select(res.horizon(metric, stat, group), lab, cloud).values.astype(float)
    X = np.column_stack([res.param(k).astype(float) for k in res.swept])
    ok = np.isfinite(y) & np.all(np.isfinite(X), axis=1)
    X, y = X[ok], y[ok]
    if method == "spearman":
        return {k: float(sps.spearmanr(X[:, j], y).correlation) for j, k in enumerate(res.swept)}
    if method == "src":
        sx, sy = X.std(axis=0), y.std()
        Z = (X - X.mean(axis=0)) / np.where(sx > 0, sx, 1.0)
        beta, *_ = np.linalg.lstsq(np.column_stack([np.ones(len(y)), Z]), (y - y.mean()) / (sy or 1.0),
                                   rcond=None)
        return {k: float(b) for k, b in zip(res.swept, beta[1:])}
    raise ValueError(f"method = {method!r}: expected 'spearman' or 'src'")


def tornado(res, metric: str = "premium_flagship", stat: str = "mean", group: str | None = None,
            lab: str | None = None, cloud: str | None = None, method: str = "spearman") -> Figure:
    """Tornado chart: one horizontal bar per swept parameter, its Spearman rank correlation
    (or standardized regression coefficient) with the metric at the horizon, largest on top."""
    coef = sensitivity(res, metric, stat, group, lab, cloud, method)
    order = sorted(coef, key=lambda k: abs(coef[k]) if np.isfinite(coef[k]) else -1.0)
    vals = [coef[k] for k in order]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(order) + 1.8))
    colors = ["#c0392b" if v > 0 else "#2e86c1" for v in vals]
    ax.barh(range(len(order)), vals, color=colors)
    ax.set_yticks(range(len(order)), order, fontsize=8)
    ax.axvline(0, color="black", lw=0.8)
    if method == "spearman":
        ax.set_xlim(-1.05, 1.05)
        # Without any influence, Spearman's rho over n points has standard deviation
        # 1/sqrt(n - 1): bars inside the band are not distinguishable from 0 at about 5 %.
        n = res.n_scenarios
        ax.axvspan(-1.96 / math.sqrt(n - 1), 1.96 / math.sqrt(n - 1), color="grey", alpha=0.15,
                   label=f"noise band (95 %) for n = {n}")
        ax.legend(fontsize=8, loc="lower right")
    label = "Spearman rank correlation" if method == "spearman" else "standardized regression coefficient"
    ax.set_xlabel(label + " [-1, 1]" if method == "spearman" else label)
    what = f"{labels.metric_title(metric)} ({stat} at the horizon" + (f", {lab})" if lab else ")")
    ax.set_title(textwrap.fill(f"What drives it: {what}, over {res.n_scenarios} scenarios of the "
                               f"{res.sweep_method} sweep", 90), fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig
