"""The report's sensitivity and scenario-discovery pages (docs/analysis.md): S_i and S_Ti bars
with their intervals (saltelli designs), the Morris mu*-sigma plane (morris designs), and PRIM's
coverage-density trade-off with the chosen box against the scenarios (sweeps of >= 50 scenarios).

`figures(path, res, out_dir)` returns [(file, title, caption)] like analysis.report.figures.
"""
from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np

from analysis import sensitivity as sa

PREMIUM_THRESHOLD = 5.0  # the strategists' question: closed premium below 5x (docs/scenarios.md)


def _horizon(res) -> str:
    """'@10y': the run's horizon (the last step's start plus one step)."""
    t = np.asarray(res.market["time"].values, float)
    h = t[-1] + (t[1] - t[0] if t.size > 1 else 0.0)
    return f"@{h:g}y"


def _short(key: str) -> str:
    return key.split(".", 1)[-1] if key.count(".") == 1 else key


def _save(fig, out_dir: str, name: str) -> str:
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, name), dpi=110)
    plt.close(fig)
    return name


def sobol_figure(ds, output: str):
    """Horizontal bars of S_i and S_Ti with their 95 % intervals, ranked by S_Ti."""
    d = ds.sel(output=output)
    order = np.argsort(-d.ST.values)
    names = [_short(str(p)) for p in d.parameter.values[order]]
    y = np.arange(len(order))
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(order) + 1.5))
    for vals, conf, dy, label, color in ((d.ST, d.ST_conf, -0.18, "total order $S_{Ti}$", "#c0392b"),
                                         (d.S1, d.S1_conf, 0.18, "first order $S_i$", "#2e86c1")):
        v, c = vals.values[order], conf.values[order]
        ax.barh(y + dy, v, height=0.34, color=color, label=label)
        ax.errorbar(v, y + dy, xerr=[v - c[:, 0], c[:, 1] - v], fmt="none", ecolor="black", lw=0.8, capsize=2)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.axvline(0, color="grey", lw=0.6)
    ax.set_xlabel("share of the output's variance")
    ax.set_title(output)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def morris_figure(ds, output: str):
    """mu* against sigma: far right matters, high up acts non-linearly or through interactions."""
    d = ds.sel(output=output)
    fig, ax = plt.subplots(figsize=(6.5, 5))
    ms, sg, conf = d.mu_star.values, d.sigma.values, d.mu_star_conf.values
    ax.errorbar(ms, sg, xerr=[ms - conf[:, 0], conf[:, 1] - ms], fmt="o", color="#2e86c1", ecolor="grey", lw=0.8)
    for x, y, p in zip(ms, sg, d.parameter.values):
        ax.annotate(_short(str(p)), (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    lim = max(ms.max(), sg.max()) * 1.1 or 1
    ax.plot([0, lim], [0, lim], color="grey", lw=0.6, ls="--")
    ax.set_xlim(0, lim)
    ax.set_ylim(0, lim)
    ax.set_xlabel(r"$\mu^*$ (mean |elementary effect|, per unit range)")
    ax.set_ylabel(r"$\sigma$ (spread of the effects)")
    ax.set_title(output)
    return fig


def prim_figure(path: str, ds):
    """Left: the peeling trajectory's coverage against density (the chosen box marked). Right:
    the scenarios in the two parameters with the smallest quasi-p-values, the box drawn."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.5))
    cov, den = ds.coverage.values, ds.density.values
    sc = a.scatter(cov, den, c=ds.restricted.values, cmap="viridis", s=18)
    c = int(ds.attrs["chosen_step"])
    a.scatter([cov[c]], [den[c]], s=120, facecolors="none", edgecolors="red", label=f"box (step {c})")
    fig.colorbar(sc, ax=a, label="restricted parameters")
    a.set_xlabel("coverage")
    a.set_ylabel("density")
    a.legend(fontsize=8)
    a.set_title("peeling trajectory")
    qp = ds.quasi_p.values
    order = [i for i in np.argsort(np.where(np.isnan(qp), np.inf, qp))][:2]
    if len(order) < 2:
        order = list(range(min(2, ds.sizes["parameter"])))
    design = sa.read_design(path)
    spec, op, thr = sa.parse_condition(ds.attrs["condition"])
    y, _ = sa.read_output(path, spec)
    hit = sa._holds(op, y, thr)
    x = design["x"]
    i, j = order[0], order[-1] if len(order) > 1 else order[0]
    b.scatter(x[~hit, i], x[~hit, j], s=8, color="#bbbbbb", label="condition false")
    b.scatter(x[hit, i], x[hit, j], s=10, color="#c0392b", label="condition true")
    lim = ds.box_limits.values
    b.add_patch(plt.Rectangle((lim[i, 0], lim[j, 0]), lim[i, 1] - lim[i, 0], lim[j, 1] - lim[j, 0],
                              fill=False, color="black", lw=1.5))
    b.set_xlabel(_short(design["params"][i]))
    b.set_ylabel(_short(design["params"][j]))
    b.legend(fontsize=8, loc="best")
    b.set_title("the box in its two most significant parameters")
    return fig


def _condition(path: str, horizon: str):
    """The premium question on each scenario's median path (the mean of a ratio with heavy upper
    tails says little about the typical path), or, when it holds in none or all scenarios, below
    the median scenario."""
    spec = f"premium_flagship{horizon}:median"
    y, _ = sa.read_output(path, spec)
    where = f"{spec} < {PREMIUM_THRESHOLD:g}"
    if (y < PREMIUM_THRESHOLD).all() or not (y < PREMIUM_THRESHOLD).any():
        where = f"{spec} < {float(np.median(y)):.4g}"
    return where


def figures(path: str, res, out_dir: str) -> list:
    """The sensitivity and PRIM figures that apply to this file."""
    out = []
    method, horizon = res.sweep_method, _horizon(res)
    outputs = [f"premium_flagship{horizon}", f"share_closed{horizon}"]
    if method == "saltelli":
        ds = sa.sensitivity(path, outputs)
        for k, o in enumerate(outputs):
            out.append((_save(sobol_figure(ds, o), out_dir, f"sobol_{k}.png"), f"Sensitivity: {o}",
                        f"Sobol indices of {o} (mean over paths) over the {len(ds.parameter)} swept parameters, "
                        f"from the Saltelli design ({ds.attrs['samples']} base rows): first order S_i "
                        "(Saltelli 2010; the share of the variance a parameter explains alone) and total order "
                        "S_Ti (Jansen 1999; with all its interactions). Whiskers: 95 % bootstrap intervals. "
                        "moatsim sensitivity prints the same numbers."))
    if method == "morris":
        ds = sa.sensitivity(path, outputs)
        for k, o in enumerate(outputs):
            out.append((_save(morris_figure(ds, o), out_dir, f"morris_{k}.png"), f"Screening: {o}",
                        f"Morris elementary effects of {o} over {ds.attrs['samples']} trajectories: mu* "
                        "(how much a parameter moves the output) against sigma (how much that effect "
                        "depends on the other parameters or is non-linear); above the dashed line the "
                        "spread exceeds the mean effect. Whiskers: 95 % bootstrap intervals of mu*."))
    if method != "none" and res.n_scenarios >= sa.PRIM_MIN_SCENARIOS:
        where = _condition(path, horizon)
        try:
            ds = sa.discover(path, where)
        except sa.AnalysisError:
            return out
        out.append((_save(prim_figure(path, ds), out_dir, "prim.png"), f"Scenario discovery: {where}",
                    f"PRIM (Friedman & Fisher 1999, peeling alpha = 0.05) on {res.n_scenarios} scenarios "
                    f"for {where} (true in {ds.attrs['n_hit']}). Left: coverage (share of the scenarios "
                    "where it holds that the box catches) against density (share of the box where it holds) "
                    f"along the peeling; the box marked has coverage {ds.attrs['box_coverage']:.2f} and "
                    f"density {ds.attrs['box_density']:.2f} over {ds.attrs['box_n']} scenarios. Right: the "
                    "scenarios in the box's two parameters with the smallest quasi-p-values. "
                    f"moatsim discover FILE --where '{where}' prints the box's limits."))
    return out
