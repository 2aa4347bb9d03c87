"""HTML report of moatsim result files: PNG figures, an index.html that tells the run's story,
an interactive page (plotly, self-contained), and a side-by-side comparison of several files.

    python -m analysis.report FILE... -o DIR [--scenario N]
    moatsim report FILE... -o DIR                (the same, through the moatsim binary)

The report is a list of pages (PAGES): each is a function of a Page context returning HTML
sections; register another with `register_page` to add one (sensitivity, scenario discovery).
Exit codes: 0 written, 2 bad input (missing or foreign file, --scenario out of range), 1 a
failure while writing.
"""
from __future__ import annotations

import argparse
import html
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis import labels, plots, report_sensitivity  # noqa: E402
from analysis.load import Result, _as_text, load, string_param  # noqa: E402

MAX_TABLE_COLUMNS = 200  # the headline table shows every scenario up to this many
PROVENANCE = ("moatsim_version", "git_revision", "format_version", "command_line", "scenario_file",
              "seed", "n_scenarios", "paths", "threads", "start_time", "wall_time_s", "compiler",
              "cflags", "gsl_version", "hdf5_version", "libconfig_version")

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; max-width: 1120px; margin: 2em auto;
       padding: 0 1.2em; color: #1d2733; line-height: 1.45; }
h1 { margin-bottom: 0.1em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #d5dbe1; padding-bottom: 0.2em; }
.sub { color: #5a6877; margin-top: 0; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #d5dbe1; padding: 0.3em 0.6em; text-align: right; }
th { background: #eef2f6; } td.l, th.l { text-align: left; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #e3e8ee; }
figcaption { color: #40505f; font-size: 0.93em; margin-top: 0.4em; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.story p { margin: 0.5em 0; } .warn { background: #fdecea; border: 1px solid #e6a19a; padding: 0.5em 0.8em; }
nav a { margin-right: 1em; } .cols { display: flex; gap: 1em; flex-wrap: wrap; } .cols figure { flex: 1 1 480px; } .wide { overflow-x: auto; } tr.param th, tr.param td { background: #fbf7e9; } code { background: #f0f3f6; padding: 0 0.2em; }
"""


def _fmt(v, digits: int = 3) -> str:
    if v is None or not np.isfinite(v):
        return "–"
    return f"{v:.{digits}g}"


def _pct(v) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{100 * v:.1f} %"


def _q(res: Result, metric: str, level: float, group: str | None = None, start: bool = False):
    """Quantile `level` of `metric` for every scenario, at its last step (or at t = 0 when
    start); per-path metrics have no time."""
    if start:
        da = res.stat(metric, "quantile", group).isel(time=0)
    else:
        da = res.horizon(metric, "quantile", group)
    return da.sel(quantile=level, method="nearest")


def _closed_medians(res: Result, metric: str) -> dict:
    """{closed lab: median over paths of `metric` at the horizon, per scenario}."""
    da = _q(res, metric, 0.5, "labs")
    return {lab: da.sel(lab=lab).values for lab in res.closed_labs}


CLOSED_METRICS = (("rerating", "re-rating"), ("dilution", "dilution"), ("dcf_ratio", "DCF ratio"))


def headline(res: Result) -> pd.DataFrame:
    """One row per scenario: swept parameters and the run's key numbers at t = 0 and the
    horizon (premium quantiles, volume shares, each closed lab's medians, exits)."""
    rows = {"scenario": np.arange(res.n_scenarios)}
    for key in res.swept:
        rows[key] = res.param(key)
    rows["premium t=0 (median)"] = _q(res, "premium_flagship", 0.5, "market", start=True).values
    rows["premium (median)"] = _q(res, "premium_flagship", 0.5, "market").values
    rows["premium (5 %)"] = _q(res, "premium_flagship", 0.05, "market").values
    rows["premium (95 %)"] = _q(res, "premium_flagship", 0.95, "market").values
    rows["share_closed t=0 (mean)"] = res.stat("share_closed", "mean", "market").isel(time=0).values
    for metric in ("share_closed", "share_open_cloud", "share_local", "revenue_share_closed"):
        rows[f"{metric} (mean)"] = res.horizon(metric, "mean", "market").values
    if "unserved_share_mean" in res.market:  # files written before the outside option lack it
        rows["unserved_share (mean)"] = res.horizon("unserved_share", "mean", "market").values
    if "hosting_margin_mean" in res.market:  # files written before model version 2 lack it
        rows["hosting_margin (mean)"] = res.horizon("hosting_margin", "mean", "market").values
    for metric, title in CLOSED_METRICS:
        for lab, v in _closed_medians(res, metric).items():
            rows[f"{lab} {title} (median)"] = v
    rows["lab exits per path (mean)"] = res.horizon("lab_exits", "mean", "market").values
    return pd.DataFrame(rows)


def _table(df: pd.DataFrame) -> str:
    """A table of text cells; the first columns (names) left-aligned."""
    head = "".join(f'<th class="l">{html.escape(str(c))}</th>' for c in df.columns)
    body = "".join("<tr>" + "".join(f'<td class="l">{html.escape(str(v))}</td>' for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return f'<div class="wide"><table><tr>{head}</tr>{body}</table></div>'


def lab_table(res: Result, scenario: int) -> pd.DataFrame:
    """Per lab, in one scenario: kind, origin, and horizon medians with 5–95 % ranges."""
    labs = res.labs.isel(scenario=scenario, time=res.last_step()[scenario])
    out = {"lab": [str(v) for v in labs["lab"].values],
           "kind": [_as_text(v) for v in labs["lab_kind"].values],
           "origin": [_as_text(v) for v in labs["lab_origin"].values]}
    for metric, title in (("rerating", "re-rating"), ("dilution", "dilution"), ("dcf_ratio", "DCF ratio")):
        q = labs[f"{metric}_quantile"]
        med = q.sel(quantile=0.5, method="nearest").values
        lo = q.sel(quantile=0.05, method="nearest").values
        hi = q.sel(quantile=0.95, method="nearest").values
        out[f"{title} median [5 %, 95 %]"] = [f"{_fmt(m)} [{_fmt(a)}, {_fmt(b)}]" for m, a, b in zip(med, lo, hi)]
    out["paths still active"] = [_pct(v) for v in labs["active_mean"].values]
    return pd.DataFrame(out)


def _cell(column: str, v: float) -> str:
    """A headline table cell: shares in %, ratios with "×" (the column names say which)."""
    if column.startswith(("share", "revenue_share", "unserved")):
        return f"<td>{_pct(v)}</td>"
    ratio = any(w in column for w in ("premium", "re-rating", "dilution", "DCF"))
    return f"<td>{_fmt(v)}{'×' if ratio and np.isfinite(v) else ''}</td>"


def headline_html(res: Result, table: pd.DataFrame) -> str:
    """The headline table transposed: a row per figure, a column per scenario headed by its
    swept values (every scenario up to MAX_TABLE_COLUMNS; the rest in headline.csv)."""
    shown = table.head(MAX_TABLE_COLUMNS)
    head = '<th class="l">figure (at the horizon unless t=0)</th>' + "".join(
        f'<th>{html.escape(labels.scenario_label(res, int(s))).replace(", ", "<br>")}</th>'
        for s in shown["scenario"])
    body = []
    for col in shown.columns[1:]:
        if col in res.swept:
            continue  # already in the column heads
        cells = "".join(_cell(col, v) for v in shown[col].astype(float))
        body.append(f'<tr><th class="l">{html.escape(col)}</th>{cells}</tr>')
    note = (f"<p>First {MAX_TABLE_COLUMNS} of {len(table)} scenarios; all of them in "
            '<a href="headline.csv">headline.csv</a>.</p>' if len(table) > MAX_TABLE_COLUMNS else
            '<p>The same as <a href="headline.csv">headline.csv</a>.</p>')
    return f'<div class="wide"><table><tr>{head}</tr>{"".join(body)}</table></div>' + note


def story(res: Result, scenario: int) -> str:
    """A few sentences on one scenario, from the summaries."""
    years = float(res.param("horizon_years")[scenario])
    s = scenario
    p0 = float(_q(res, "premium_flagship", 0.5, "market", start=True)[s])
    p1 = float(_q(res, "premium_flagship", 0.5, "market")[s])
    lo = float(_q(res, "premium_flagship", 0.05, "market")[s])
    hi = float(_q(res, "premium_flagship", 0.95, "market")[s])
    sc0 = float(res.stat("share_closed", "mean", "market").isel(scenario=s, time=0))
    sc1 = float(res.horizon("share_closed", "mean", "market")[s])
    q1 = _q(res, "share_closed", 0.05, "market")[s], _q(res, "share_closed", 0.95, "market")[s]
    sl1 = float(res.horizon("share_local", "mean", "market")[s])
    closed = {title: _closed_medians(res, metric) for metric, title in CLOSED_METRICS}

    def per_lab(title):
        return ", ".join(f"{_fmt(float(v[s]))}× ({html.escape(lab)})" for lab, v in closed[title].items())
    exits = float(res.horizon("lab_exits", "mean", "market")[s])
    n_paths = int(res.stat("premium_flagship", "count", "market").isel(scenario=s).max())
    label = html.escape(labels.scenario_label(res, s, short=False))
    return (f"<p>Scenario <b>{label}</b>, {n_paths} paths, {years:.3g}-year horizon.</p>"
            f"<p>Closed flagships start at <b>{_fmt(p0)}×</b> the price of open offers and end at "
            f"<b>{_fmt(p1)}×</b> (median; 90 % of paths between {_fmt(lo)}× and {_fmt(hi)}×).</p>"
            f"<p>Closed labs carry <b>{_pct(sc0)}</b> of token volume at the start and <b>{_pct(sc1)}</b> "
            f"at the horizon (mean; 90 % of paths between {_pct(float(q1[0]))} and {_pct(float(q1[1]))}); "
            f"local inference reaches <b>{_pct(sl1)}</b>.</p>"
            f"<p>Closed labs at the horizon (medians over paths): revenue multiples re-rated by "
            f"{per_lab('re-rating')}; share counts at {per_lab('dilution')} the initial ones; discounted "
            f"cash flows worth {per_lab('DCF ratio')} the starting valuation. "
            f"On average {_fmt(exits, 2)} lab(s) exit per path.</p>")


def design_summary(res: Result) -> str:
    """For a sweep: the design (method, size, each parameter's values or range) and what the
    scenarios say together (the spread of the headline numbers across the design, and which
    scenarios end highest and lowest)."""
    rows = []
    for key in res.swept:
        v = res.param(key)
        u = np.unique(v)
        values = (", ".join(f"{x:.4g}" for x in u) if u.size <= 8 and res.sweep_method in ("grid", "list")
                  else f"{u.size} values in [{u.min():.4g}, {u.max():.4g}], median {np.median(v):.4g}")
        unit = str(res.params[key].attrs.get("units", ""))
        rows.append(f'<tr><th class="l"><code>{html.escape(key)}</code></th><td class="l">{values}</td>'
                    f'<td class="l">{html.escape(unit if unit not in ("", "1") else "")}</td>'
                    f'<td class="l">{html.escape(str(res.params[key].attrs.get("long_name", "")))}</td></tr>')
    what = {"grid": "every combination of the values below", "list": "row k of every axis",
            "lhs": "a Latin hypercube sample", "sobol": "points of a Sobol sequence"}.get(res.sweep_method, "")
    med = _q(res, "premium_flagship", 0.5, "market").values
    share = res.horizon("share_closed", "mean", "market").values
    lo_s, hi_s = int(np.nanargmin(med)), int(np.nanargmax(med))
    qs = np.nanpercentile(med, [5, 50, 95])
    return (f"<p>A <b>{html.escape(res.sweep_method)}</b> sweep of <b>{res.n_scenarios}</b> scenarios "
            f"({what}) over {len(res.swept)} parameter(s):</p>"
            '<table><tr><th class="l">parameter</th><th class="l">values</th><th class="l">unit</th>'
            f'<th class="l">meaning</th></tr>{"".join(rows)}</table>'
            f"<p>Across the design the median flagship premium at the horizon runs from <b>{_fmt(med[lo_s])}×</b> "
            f"({html.escape(labels.scenario_label(res, lo_s))}) to <b>{_fmt(med[hi_s])}×</b> "
            f"({html.escape(labels.scenario_label(res, hi_s))}); over the scenarios its 5th, 50th and 95th "
            f"percentiles are {_fmt(qs[0])}×, {_fmt(qs[1])}× and {_fmt(qs[2])}×. The closed labs' mean "
            f"volume share at the horizon runs from {_pct(np.nanmin(share))} to {_pct(np.nanmax(share))}.</p>")


def _save(fig, out_dir: str, name: str) -> str:
    fig.savefig(os.path.join(out_dir, name), dpi=100)
    plt.close(fig)
    return name


def _shown(res: Result) -> str:
    n = res.n_scenarios
    return ("every scenario" if n <= plots.MAX_PANELS else
            f"{plots.MAX_PANELS} of the {n} scenarios, spread over the sweep (every one on the interactive page)")


def figures(res: Result, out_dir: str, scenario: int) -> list:
    """Draw every figure that applies to this run; [(file, title, caption)]."""
    out = []
    fan = plots.fan_chart(res, "premium_flagship")
    out.append((_save(fan, out_dir, "premium_fan.png"), "Flagship price premium [×]",
                "Volume-weighted price of closed flagships over that of open models (clouds and first-party "
                "APIs), as a multiple. Bands: quantiles across paths (lighter = wider); solid line the median, "
                f"dashed the mean. One panel per scenario: {_shown(res)}."))
    out.append((_save(plots.market_shares(res), out_dir, "market_shares.png"), "Market shares [%]",
                "Share of token volume in %, mean over paths, stacked: closed labs, open models served by "
                "clouds, open labs' own APIs, and local inference. Dotted lines: the 5 % and 95 % quantiles "
                f"across paths of the closed labs' share. {_shown(res).capitalize()}."))
    out.append((_save(plots.distributions(res, scenario), out_dir, "closed_labs.png"),
                "Closed labs: re-rating, dilution, DCF value [×]",
                f"For {labels.scenario_label(res, scenario)}, across paths: re-rating of the revenue multiple "
                "and dilution (shares over initial shares) at the horizon, and the Monte Carlo DCF value over "
                "the starting valuation (dotted line at 1 when in range), all as multiples. Boxes 25–75 %, "
                "whiskers 5–95 %, line the median, triangle the mean."))
    if len(res.swept) >= 2 and res.sweep_method == "grid":
        x, y = res.swept[0], res.swept[1]
        for metric in ("premium_flagship", "share_closed"):
            unit = labels.metric_unit(metric)
            out.append((_save(plots.heatmap(res, metric, x, y), out_dir, f"heatmap_{metric}.png"),
                        f"{labels.metric_title(metric)} over the grid [{unit}]",
                        f"Mean across paths at the horizon for each pair of {x} (across) and {y} (up); in "
                        "brackets the 5 % and 95 % quantiles across paths"
                        + (", averaged over the other swept parameters." if len(res.swept) > 2 else ".")))
    if res.swept and res.sweep_method in ("lhs", "sobol", "list") and res.n_scenarios >= 3:
        for metric in ("premium_flagship", "share_closed"):
            out.append((_save(plots.tornado(res, metric), out_dir, f"tornado_{metric}.png"),
                        f"What drives the {labels.metric_title(metric).lower()}",
                        f"Spearman rank correlation (from -1 to 1) between each swept parameter and the mean "
                        f"at the horizon, over the {res.n_scenarios} scenarios of the {res.sweep_method} sweep. "
                        "Red: raising the parameter raises the metric. Bars inside the grey band are "
                        "within sampling noise (|rho| < 1.96/sqrt(n - 1))."))
    return out


def provenance(res: Result) -> str:
    rows = []
    for key in PROVENANCE:
        if key in res.attrs:
            rows.append(f'<tr><th class="l">{key}</th><td class="l"><code>'
                        f'{html.escape(_as_text(res.attrs[key]))}</code></td></tr>')
    text = html.escape(_as_text(res.attrs.get("scenario_text", "")))
    return (f"<table>{''.join(rows)}</table>"
            f"<details><summary>Scenario file as run (with --set overrides)</summary><pre>{text}</pre></details>")


# ---- pages ---------------------------------------------------------------------------------

class InputError(Exception):
    """The input is wrong (a missing or foreign file, --scenario out of range): exit code 2."""


def _load(path: str) -> Result:
    try:
        return load(path)
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)) from exc


class Page:
    """What a page function gets: the result (written scenarios only), the output directory,
    the focus scenario, the file's path and completeness, and a place for its figure files."""

    def __init__(self, res: Result, out_dir: str, scenario: int, path: str, done: np.ndarray):
        self.res, self.out_dir, self.scenario, self.path, self.done = res, out_dir, scenario, path, done

    @property
    def name(self) -> str:
        return string_param(self.res.params.attrs.get("name", os.path.basename(self.path)))


# Registered pages: (file, link text, function(Page) -> HTML body). index.html comes first.
PAGES: list = []


def register_page(file: str, title: str):
    """Decorator: add a page to every report (file name in the report directory, link text)."""
    def add(fn):
        PAGES.append((file, title, fn))
        return fn
    return add


def incomplete_note(path: str, done: np.ndarray) -> str:
    """'' for a complete file; otherwise the sentence every page opens with."""
    if done.all():
        return ""
    missing = np.flatnonzero(~done)
    listed = ", ".join(map(str, missing[:12])) + (" …" if missing.size > 12 else "")
    return (f"Incomplete file: {int(done.sum())} of {done.size} scenarios written ({html.escape(path)}; "
            f"missing: {listed}). An interrupted run (finish it with moatsim run --resume) or one shard "
            "of a sweep (moatsim merge the shards); this report shows the written scenarios only.")


@register_page("index.html", "Summary")
def summary_page(p: Page) -> str:
    res, table = p.res, headline(p.res)
    table.to_csv(os.path.join(p.out_dir, "headline.csv"), index=False)
    parts = []
    if res.swept:
        parts += ["<h2>The sweep</h2>", design_summary(res)]
    else:
        parts += ['<h2>In short</h2><div class="story">', story(res, p.scenario), "</div>"]
    parts += ["<h2>Headline numbers</h2>",
              "<p>Premium: volume-weighted closed flagship price over open price, a multiple (×), "
              "quantiles over paths. Shares: of token volume (revenue share: of token spend), means over "
              "paths, in %. Closed labs: medians over paths of the re-rating of the revenue multiple, of "
              "shares outstanding over initial shares, and of the DCF value over the starting valuation (×). "
              "Columns: the scenarios, by their swept values.</p>",
              headline_html(res, table)]
    if res.swept:
        parts += [f"<h2>One scenario: {html.escape(labels.scenario_label(res, p.scenario))}</h2>",
                  '<div class="story">', story(res, p.scenario), "</div>"]
    parts += [f"<h3>Labs in {html.escape(labels.scenario_label(res, p.scenario))}, at the horizon</h3>",
              _table(lab_table(res, p.scenario))]
    figs = figures(res, p.out_dir, p.scenario) + report_sensitivity.figures(p.path, res, p.out_dir)
    for file, title, caption in figs:
        parts.append(f"<h2>{html.escape(title)}</h2><figure><img src=\"{file}\" alt=\"{html.escape(title)}\">"
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    parts += ["<h2>Provenance</h2>", provenance(res)]
    return "\n".join(parts)


@register_page("interactive.html", "Interactive fan charts")
def interactive_page(p: Page) -> str | None:
    """Written as its own self-contained file by analysis.interactive; None: no HTML wrapper."""
    try:
        from analysis import interactive
        interactive.write(p.res, os.path.join(p.out_dir, "interactive.html"),
                          f"moatsim: {p.name}, interactive fan charts")
    except ImportError:  # plotly missing: the static report stands alone
        print("moatsim report: python3-plotly is not installed: no interactive page", file=sys.stderr)
    return None


def _document(title: str, note: str, nav: str, body: str) -> str:
    warn = f'<p class="warn" id="incomplete">{note}</p>' if note else ""
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>{warn}"
            f"<h1>{html.escape(title)}</h1>{nav}{body}</body></html>")


def write(path: str, out_dir: str, scenario: int | None = None) -> str:
    """Write the report of result file `path` into out_dir; returns the index.html path."""
    full = _load(path)
    os.makedirs(out_dir, exist_ok=True)
    with full:
        done = full.done
        if not done.any():
            raise InputError(f"{path}: no scenario written yet (an interrupted run: finish it with "
                             "moatsim run --resume)")
        if scenario is not None and not 0 <= scenario < full.n_scenarios:
            raise InputError(f"--scenario {scenario}: {path} has scenarios 0 to {full.n_scenarios - 1}")
        if scenario is not None and not done[scenario]:
            raise InputError(f"--scenario {scenario}: that scenario of {path} is not written yet")
        kept = np.flatnonzero(done)
        res = full.isel(scenario=kept) if not done.all() else full
        # Focus: the given scenario, else the one whose median premium is the median of the sweep.
        if scenario is not None:
            focus = int(np.flatnonzero(kept == scenario)[0])
        else:
            med = _q(res, "premium_flagship", 0.5, "market").values
            focus = int(np.nanargmin(np.abs(med - np.nanmedian(med)))) if np.isfinite(med).any() else 0
        page = Page(res, out_dir, focus, path, done)
        note = incomplete_note(path, done)
        sub = (f'<p class="sub">{html.escape(os.path.abspath(path))}: {full.n_scenarios} scenario(s), '
               f"sweep {html.escape(res.sweep_method)}"
               + (f" over {html.escape(', '.join(res.swept))}" if res.swept else "") + "</p>")
        nav = "<nav>" + "".join(f'<a href="{f}">{html.escape(t)}</a>' for f, t, _ in PAGES) + "</nav>"
        for file, title, fn in PAGES:
            body = fn(page)
            if body is None:
                continue
            with open(os.path.join(out_dir, file), "w", encoding="utf-8") as f:
                f.write(_document(f"moatsim report: {page.name}" + ("" if file == "index.html" else f" — {title}"),
                                  note, nav, sub + body))
    if note:
        print(f"moatsim report: {path}: {re.sub('<[^>]+>', '', note)}", file=sys.stderr)
    return os.path.join(out_dir, "index.html")


# ---- several files side by side ------------------------------------------------------------

def _stem(path: str, taken: set) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.splitext(os.path.basename(path))[0]) or "file"
    name, k = base, 2
    while name in taken:
        name, k = f"{base}-{k}", k + 1
    taken.add(name)
    return name


def compare_figure(results: list, names: list, metric: str, out_dir: str, file: str) -> str:
    """Median and 5–95 % band of `metric` over time, one line per file (its first written
    scenario for single runs; each scenario for sweeps of up to 4 scenarios)."""
    fig, ax = plt.subplots(figsize=(10, 4.6))
    k = labels.scale(metric)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    c = 0
    for res, name in zip(results, names):
        q = res.stat(metric, "quantile", "market")
        for s in range(min(res.n_scenarios, 4)):
            qs = q.isel(scenario=s).transpose("quantile", "time").values * k
            label = name + (f" ({labels.scenario_label(res, s)})" if res.swept else "")
            col = colors[c % len(colors)]
            c += 1
            ax.fill_between(res.time, qs[0], qs[-1], color=col, alpha=0.15, lw=0)
            ax.plot(res.time, qs[len(qs) // 2], color=col, lw=1.8, label=label)
    ax.set_xlabel("time [years]")
    ax.set_ylabel(labels.axis_label(metric))
    ax.set_title(f"{labels.metric_title(metric)} [{labels.metric_unit(metric)}]: median (line) and "
                 "5–95 % of paths (band), file by file", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, out_dir, file)


def write_comparison(paths: list, out_dir: str) -> str:
    """A report per file in out_dir/<file name>/ and an index.html comparing them side by side."""
    os.makedirs(out_dir, exist_ok=True)
    taken, names, notes = set(), [], []
    for path in paths:  # every file first: a bad one stops before anything is drawn
        if not os.path.exists(path):
            raise InputError(f"{path}: no such result file (write one with `moatsim run`)")
    for path in paths:
        name = _stem(path, taken)
        names.append(name)
        write(path, os.path.join(out_dir, name))
    results = [_load(p) for p in paths]
    try:
        for path, res in zip(paths, results):
            n = incomplete_note(path, res.done)
            if n:
                notes.append(n)
        results_done = [r.isel(scenario=np.flatnonzero(r.done)) if not r.done.all() else r for r in results]
        cols, rows = [], {}
        for name, res in zip(names, results_done):
            table = headline(res)
            for s in range(res.n_scenarios):
                cols.append(f'<a href="{name}/index.html">{html.escape(name)}</a>'
                            + (f"<br>{html.escape(labels.scenario_label(res, s))}" if res.swept else ""))
                for col in table.columns[1:]:
                    if col not in res.swept:
                        rows.setdefault(col, []).append(float(table[col].iloc[s]))
            for col in rows:
                rows[col] += [np.nan] * (len(cols) - len(rows[col]))
        body_rows = []
        for col, vals in rows.items():
            cells = "".join(_cell(col, v) for v in vals)
            body_rows.append(f'<tr><th class="l">{html.escape(col)}</th>{cells}</tr>')
        head = '<th class="l">figure (at the horizon unless t=0)</th>' + "".join(f"<th>{c}</th>" for c in cols)
        figs = [compare_figure(results_done, names, m, out_dir, f"compare_{m}.png")
                for m in ("premium_flagship", "share_closed")]
        files = "".join(f'<li><a href="{n}/index.html">{html.escape(n)}</a>: {html.escape(os.path.abspath(p))}, '
                        f"{r.n_scenarios} scenario(s), sweep {html.escape(r.sweep_method)}</li>"
                        for n, p, r in zip(names, paths, results))
        body = (f"<h2>Files</h2><ul>{files}</ul><h2>Headline numbers side by side</h2>"
                f'<div class="wide"><table><tr>{head}</tr>{"".join(body_rows)}</table></div>'
                + "".join(f'<figure><img src="{f}" alt="{f}"></figure>' for f in figs))
    finally:
        for r in results:
            r.close()
    note = " ".join(notes)
    index = os.path.join(out_dir, "index.html")
    with open(index, "w", encoding="utf-8") as f:
        f.write(_document(f"moatsim report: {len(paths)} files compared", note, "", body))
    return index


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="moatsim report",
                                 description="Write figures, index.html and an interactive page for moatsim "
                                             "result files; several files are compared side by side.")
    ap.add_argument("files", nargs="+", metavar="FILE", help="result file(s) written by `moatsim run`")
    ap.add_argument("-o", "--output", required=True, metavar="DIR", help="directory for the report")
    ap.add_argument("--scenario", type=int, default=None,
                    help="scenario for the per-lab views (default: the sweep's middle one)")
    args = ap.parse_args(argv)
    try:
        if len(args.files) == 1:
            index = write(args.files[0], args.output, args.scenario)
        else:
            if args.scenario is not None:
                ap.error("--scenario applies to one file; each file's own report uses its middle scenario")
            index = write_comparison(args.files, args.output)
    except InputError as exc:  # the input: missing, foreign, out of range
        print(f"moatsim report: {exc}", file=sys.stderr)
        return 2
    except (OSError, KeyError, ValueError) as exc:  # writing the report failed
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"moatsim report: {msg}", file=sys.stderr)
        return 1
    print(index)
    return 0


if __name__ == "__main__":
    sys.exit(main())
