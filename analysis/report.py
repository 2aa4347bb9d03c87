"""HTML report of a moatsim result file: PNG figures and an index.html that tells the run's story.

    python -m analysis.report FILE -o DIR [--scenario N]
    moatsim report FILE -o DIR                  (the same, through the moatsim binary)
"""
from __future__ import annotations

import argparse
import html
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis import plots, report_sensitivity  # noqa: E402
from analysis.load import Result, _as_text, load, string_param  # noqa: E402

MAX_TABLE_COLUMNS = 8
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
.story p { margin: 0.5em 0; } .wide { overflow-x: auto; } tr.param th, tr.param td { background: #fbf7e9; } code { background: #f0f3f6; padding: 0 0.2em; }
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


def headline_html(res: Result, table: pd.DataFrame) -> str:
    """The headline table transposed (a row per figure, a column per scenario), at most
    MAX_TABLE_COLUMNS scenarios."""
    shown = table.head(MAX_TABLE_COLUMNS)
    head = '<th class="l">figure (horizon unless t=0)</th>' + "".join(
        f'<th>#{int(s)}</th>' for s in shown["scenario"])
    body = []
    for col in shown.columns[1:]:
        is_share = col.startswith(("share", "revenue_share"))
        cells = "".join(f"<td>{_pct(v) if is_share else _fmt(v)}</td>" for v in shown[col].astype(float))
        css = ' class="param"' if col in res.swept else ""
        body.append(f'<tr{css}><th class="l">{html.escape(col)}</th>{cells}</tr>')
    note = (f"<p>First {MAX_TABLE_COLUMNS} of {len(table)} scenarios; all of them in "
            '<a href="headline.csv">headline.csv</a>.</p>' if len(table) > MAX_TABLE_COLUMNS else
            '<p>The same as <a href="headline.csv">headline.csv</a>.</p>')
    return f'<div class="wide"><table><tr>{head}</tr>{"".join(body)}</table></div>' + note


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


def story(res: Result, scenario: int) -> str:
    """A few sentences on the focus scenario, from the summaries."""
    years = float(res.param("horizon_years")[scenario])
    s = scenario
    p0 = float(_q(res, "premium_flagship", 0.5, "market", start=True)[s])
    p1 = float(_q(res, "premium_flagship", 0.5, "market")[s])
    lo = float(_q(res, "premium_flagship", 0.05, "market")[s])
    hi = float(_q(res, "premium_flagship", 0.95, "market")[s])
    sc0 = float(res.stat("share_closed", "mean", "market").isel(scenario=s, time=0))
    sc1 = float(res.horizon("share_closed", "mean", "market")[s])
    sl1 = float(res.horizon("share_local", "mean", "market")[s])
    closed = {title: _closed_medians(res, metric) for metric, title in CLOSED_METRICS}

    def per_lab(title):
        return ", ".join(f"{_fmt(float(v[s]))}× ({html.escape(lab)})" for lab, v in closed[title].items())
    exits = float(res.horizon("lab_exits", "mean", "market")[s])
    sweep = ""
    if res.n_scenarios > 1:
        med = _q(res, "premium_flagship", 0.5, "market").values
        lo_s, hi_s = int(np.nanargmin(med)), int(np.nanargmax(med))
        sweep = (f"<p>Across the {res.n_scenarios} scenarios of the sweep the median premium at the horizon "
                 f"runs from <b>{_fmt(med[lo_s])}×</b> ({html.escape(res.scenario_label(lo_s, max_params=3))}) to "
                 f"<b>{_fmt(med[hi_s])}×</b> ({html.escape(res.scenario_label(hi_s, max_params=3))}).</p>")
    n_paths = int(res.stat("premium_flagship", "count", "market").isel(scenario=s).max())
    label = html.escape(res.scenario_label(s, short=False))
    return (f"<p>Scenario <b>{label}</b>, {n_paths} paths, {years:.3g}-year horizon.</p>"
            f"<p>Closed flagships start at <b>{_fmt(p0)}×</b> the price of open offers and end at "
            f"<b>{_fmt(p1)}×</b> (median; 90 % of paths between {_fmt(lo)}× and {_fmt(hi)}×).</p>"
            f"<p>Closed labs carry <b>{_pct(sc0)}</b> of token volume at the start and <b>{_pct(sc1)}</b> "
            f"at the horizon; local inference reaches <b>{_pct(sl1)}</b>.</p>"
            f"<p>Closed labs at the horizon (medians over paths): revenue multiples re-rated by "
            f"{per_lab('re-rating')}; share counts at {per_lab('dilution')} the initial ones; discounted "
            f"cash flows worth {per_lab('DCF ratio')} the starting valuation. "
            f"On average {_fmt(exits, 2)} lab(s) exit per path.</p>" + sweep)


def _save(fig, out_dir: str, name: str) -> str:
    fig.savefig(os.path.join(out_dir, name), dpi=110)
    plt.close(fig)
    return name


def figures(res: Result, out_dir: str, scenario: int) -> list:
    """Draw every figure that applies to this run; [(file, title, caption)]."""
    out = []
    fan = plots.fan_chart(res, "premium_flagship")
    out.append((_save(fan, out_dir, "premium_fan.png"), "Flagship premium",
                "Q-weighted mean price of closed flagships divided by that of open offers (clouds and "
                "first-party APIs). Bands: quantiles across paths (lighter = wider); solid line the "
                "median, dashed the mean. One panel per scenario (at most six, spread over the sweep)."))
    out.append((_save(plots.market_shares(res), out_dir, "market_shares.png"), "Market shares",
                "Share of token volume, mean over paths, stacked: closed labs, open models served by "
                "clouds, open labs' own APIs, and local inference."))
    out.append((_save(plots.distributions(res, scenario), out_dir, "closed_labs.png"), "Closed labs",
                "Across paths, for the closed labs: re-rating of the revenue multiple and dilution "
                "(shares over initial shares) at the horizon, and the Monte Carlo DCF value over the "
                "starting valuation (dotted line at 1 when in range). Boxes 25–75 %, whiskers 5–95 %, line the "
                "median, triangle the mean."))
    if len(res.swept) >= 2 and res.sweep_method == "grid":
        x, y = res.swept[0], res.swept[1]
        for metric in ("premium_flagship", "share_closed"):
            out.append((_save(plots.heatmap(res, metric, x, y), out_dir, f"heatmap_{metric}.png"),
                        f"{metric} over the grid",
                        f"Mean {metric} at the horizon for each pair of {x} (across) and {y} (up)"
                        + (", averaged over the other swept parameters." if len(res.swept) > 2 else ".")))
    if res.swept and res.sweep_method in ("lhs", "sobol", "list") and res.n_scenarios >= 3:
        for metric in ("premium_flagship", "share_closed"):
            out.append((_save(plots.tornado(res, metric), out_dir, f"tornado_{metric}.png"),
                        f"What drives {metric}",
                        f"Spearman rank correlation between each swept parameter and the mean {metric} at the "
                        f"horizon, over the {res.n_scenarios} scenarios of the {res.sweep_method} sweep. "
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


def write(path: str, out_dir: str, scenario: int = 0) -> str:
    """Write the report of result file `path` into out_dir; returns the index.html path."""
    os.makedirs(out_dir, exist_ok=True)
    with load(path) as res:
        if not 0 <= scenario < res.n_scenarios:
            raise ValueError(f"--scenario {scenario}: the file has scenarios 0..{res.n_scenarios - 1}")
        table = headline(res)
        table.to_csv(os.path.join(out_dir, "headline.csv"), index=False)
        figs = figures(res, out_dir, scenario) + report_sensitivity.figures(path, res, out_dir)
        name = string_param(res.params.attrs.get("name", os.path.basename(path)))
        parts = [
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
            f"<title>moatsim report: {html.escape(name)}</title><style>{CSS}</style></head><body>",
            f"<h1>moatsim report: {html.escape(name)}</h1>",
            f'<p class="sub">{html.escape(os.path.abspath(path))} — {res.n_scenarios} scenario(s), '
            f"sweep: {html.escape(res.sweep_method)}"
            + (f" over {html.escape(', '.join(res.swept))}" if res.swept else "") + "</p>",
            '<h2>In short</h2><div class="story">', story(res, scenario), "</div>",
            "<h2>Headline numbers</h2>",
            "<p>Premium: Q-weighted closed flagship price over open price, quantiles over paths. Shares: of "
            "token volume (revenue share: of token spend), means over paths. Closed labs: medians over "
            "paths of the re-rating of the revenue multiple, of shares outstanding over initial shares, "
            "and of the DCF value over the starting valuation. Swept parameters shaded.</p>",
            headline_html(res, table),
            f"<h3>Labs in scenario {html.escape(res.scenario_label(scenario, max_params=3))}, at the horizon</h3>",
            _table(lab_table(res, scenario)),
        ]
        for file, title, caption in figs:
            parts.append(f"<h2>{html.escape(title)}</h2><figure><img src=\"{file}\" alt=\"{html.escape(title)}\">"
                         f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        parts += ["<h2>Provenance</h2>", provenance(res), "</body></html>"]
    index = os.path.join(out_dir, "index.html")
    with open(index, "w", encoding="utf-8") as f:
        f.write("\n".join(parts))
    return index


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="moatsim report",
                                 description="Write PNG figures and index.html for a moatsim result file.")
    ap.add_argument("file", help="result file written by `moatsim run`")
    ap.add_argument("-o", "--output", required=True, metavar="DIR", help="directory for index.html and the PNGs")
    ap.add_argument("--scenario", type=int, default=0, help="scenario for the per-lab views (default 0)")
    args = ap.parse_args(argv)
    try:
        index = write(args.file, args.output, args.scenario)
    except (OSError, KeyError, ValueError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"moatsim report: {msg}", file=sys.stderr)
        return 1
    print(index)
    return 0


if __name__ == "__main__":
    sys.exit(main())
