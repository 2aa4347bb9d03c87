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

SHARES = (("share_closed", "closed labs", "#c0392b"),
          ("share_open_cloud", "open models on clouds", "#2e86c1"),
          ("share_open_first_party", "open labs' own APIs", "#85c1e9"),
          ("share_local", "local inference", "#27ae60"))
BAND_COLOR = "#2e86c1"
TITLE_PARAMS = 3  # panel titles list the swept values up to this many parameters


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
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows + 0.6), squeeze=False,
                             sharex=True, sharey=sharey)
    for ax in axes.flat[n:]:
        ax.remove()
    return fig, list(axes.flat[:n])


def _title(res, s: int, width: int = 48) -> str:
    """Panel title: the scenario's label (its number alone beyond TITLE_PARAMS swept
    parameters), wrapped so that neighbouring panels do not collide."""
    return textwrap.fill(res.scenario_label(s, max_params=TITLE_PARAMS), width)


def _units(da) -> str:
    u = str(da.attrs.get("units", ""))
    return "" if u in ("", "1") else f" [{u}]"


def _select(da, lab=None, cloud=None):
    if "lab" in da.dims:
        da = da.sel(lab=lab if lab is not None else da["lab"].values[0])
    if "cloud" in da.dims:
        da = da.sel(cloud=cloud if cloud is not None else da["cloud"].values[0])
    return da


def fan_chart(res, metric: str = "premium_flagship", group: str | None = None, scenarios=None,
              lab: str | None = None, cloud: str | None = None, max_panels: int = 6,
              logy: bool = False) -> Figure:
    """Fan chart of `metric` over time: nested quantile bands (outermost pair lightest), the
    median, and the mean dashed; one panel per scenario."""
    q = _select(res.stat(metric, "quantile", group), lab, cloud)
    mean = _select(res.stat(metric, "mean", group), lab, cloud)
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
    axes[0].set_ylabel(metric + _units(mean))
    axes[0].legend(fontsize=7, loc="best")
    what = metric + (f" of {lab}" if lab else "")
    fig.suptitle(f"{what}: quantiles across paths", fontsize=11)
    fig.tight_layout()
    return fig


def market_shares(res, scenarios=None, max_panels: int = 6) -> Figure:
    """Mean volume shares over time, stacked: closed labs, open models on clouds, open labs'
    first-party APIs, local inference; one panel per scenario."""
    picks = _pick_scenarios(res, scenarios, max_panels)
    fig, axes = _panels(len(picks))
    t = res.time
    for ax, s in zip(axes, picks):
        ys = [res.stat(m, "mean", "market").isel(scenario=s).values for m, _, _ in SHARES]
        ax.stackplot(t, *ys, labels=[lab for _, lab, _ in SHARES], colors=[c for _, _, c in SHARES],
                     alpha=0.85)
        ax.set_ylim(0, 1)
        ax.set_xlim(t[0], t[-1])
        ax.set_title(_title(res, s), fontsize=9)
        ax.set_xlabel("time [years]")
    axes[0].set_ylabel("share of token volume (mean over paths)")
    axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle("Market shares by volume", fontsize=11)
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
               group: str | None = None, lab: str | None = None, cloud: str | None = None):
    """(x values, y values, matrix[y, x]) of `stat` of `metric` at the horizon over a
    two-parameter sweep; cells averaging several scenarios (other swept axes) are averaged."""
    x, y = _grid_axes(res, x, y)
    da = _select(res.horizon(metric, stat if stat != "median" else "quantile", group), lab, cloud)
    if stat == "median":
        da = da.sel(quantile=0.5, method="nearest")
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
    fig, ax = plt.subplots(figsize=(1.2 * xs.size + 3.5, 0.9 * ys.size + 2.4))
    im = ax.imshow(z, origin="lower", cmap=cmap, aspect="auto")
    ax.set_xticks(range(xs.size), [f"{v:.4g}" for v in xs])
    ax.set_yticks(range(ys.size), [f"{v:.4g}" for v in ys])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    finite = z[np.isfinite(z)]
    mid = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for (i, j), v in np.ndenumerate(z):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=9,
                    color="white" if v < mid else "black")
    da = res.stat(metric, "mean", group)
    fig.colorbar(im, ax=ax, label=f"{metric}{_units(da)}")
    what = f"{stat} {metric}" + (f" of {lab}" if lab else "") + (f" of {cloud}" if cloud else "")
    if "time" in da.dims:
        t_last = np.unique(res.time[res.last_step()])
        what += (f" at the last step, t = {t_last[0]:.3g} years" if t_last.size == 1
                 else " at each scenario's last step")
    ax.set_title(what, fontsize=10)
    fig.tight_layout()
    return fig


def _box_from_quantiles(levels, qs, mean, label) -> dict:
    """matplotlib bxp statistics from summary quantiles: box 25–75 %, whiskers at the outermost
    quantiles stored (5–95 % by default), median line, mean marker."""
    def at(level):
        return float(qs[int(np.argmin(np.abs(levels - level)))])
    return dict(label=label, whislo=float(qs[0]), q1=at(0.25), med=at(0.5), q3=at(0.75),
                whishi=float(qs[-1]), mean=float(mean), fliers=[])


DISTRIBUTION_METRICS = (("rerating", "re-rating of the multiple", True),
                        ("dilution", "dilution S(t)/S(0)", True),
                        ("dcf_ratio", "DCF value / V(0)", False))


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
        ax.set_ylabel(metric)
        ax.grid(axis="y", alpha=0.3)
        ax.tick_params(axis="x", labelrotation=20)
    fig.suptitle(textwrap.fill(f"Closed labs across paths ({source}), scenario {res.scenario_label(scenario, max_params=TITLE_PARAMS)}",
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
    ax.set_xlabel(label)
    what = f"{stat} {metric}" + (f" of {lab}" if lab else "")
    ax.set_title(f"Influence on {what} at the horizon ({res.n_scenarios} scenarios, "
                 f"{res.sweep_method} sweep)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig
