"""A self-contained interactive page of a moatsim result (plotly; plotly.js inlined, no server,
no network): fan charts with hover values, and a selector per swept parameter that redraws them
for the chosen scenario.

    analysis.interactive.write(res, "out/interactive.html")

The page reads an initial selection from its address (`interactive.html#long_run=0.06`: the
selector named by the parameter's short name takes that value), so that a link can point at a
scenario and a headless browser can check the selector.
"""
from __future__ import annotations

import html
import json

import numpy as np

from analysis import labels

# Fan charts on the page: (metric, group, lab selection: None, or "closed" for each closed lab).
FANS = (("premium_flagship", "market", None), ("share_closed", "market", None),
        ("revenue_share_closed", "market", None), ("rerating", "labs", "closed"),
        ("dcf_ratio", "labs", "closed"))


def _clean(a) -> list:
    """Floats for JSON: NaN becomes null (a gap in the plot)."""
    return [None if not np.isfinite(v) else round(float(v), 6) for v in np.asarray(a, dtype=float)]


def _series(res, metric: str, group: str, lab: str | None) -> list:
    """Per scenario: {levels: [...], q: [[...] per level], mean: [...]}, in the unit shown."""
    k = labels.scale(metric)
    q = res.stat(metric, "quantile", group)
    mean = res.stat(metric, "mean", group)
    if lab is not None:
        q, mean = q.sel(lab=lab), mean.sel(lab=lab)
    if "time" not in q.dims:  # per-path metric (dcf_ratio): flat over time
        q = q.expand_dims(time=res.time).transpose(*[d for d in q.dims if d != "time"], "time")
        mean = mean.expand_dims(time=res.time).transpose("scenario", "time")
    out = []
    for s in range(res.n_scenarios):
        qs = q.isel(scenario=s).transpose("quantile", "time").values * k
        out.append({"q": [_clean(row) for row in qs], "mean": _clean(mean.isel(scenario=s).values * k)})
    return out


def _charts(res) -> list:
    charts = []
    for metric, group, which in FANS:
        if f"{metric}_quantile" not in res[group]:
            continue
        labs = res.closed_labs if which == "closed" else [None]
        for lab in labs:
            title = labels.metric_title(metric) + (f" — {lab}" if lab else "")
            charts.append({"id": f"fan-{metric}" + (f"-{lab}" if lab else ""), "title": title,
                           "unit": labels.metric_unit(metric), "axis": labels.axis_label(metric),
                           "data": _series(res, metric, group, lab)})
    return charts


def _selectors(res) -> list:
    """One selector per swept parameter: its distinct values, and each scenario's value index.
    Without a sweep: none. For sampled designs (every value distinct) one selector over the
    scenarios, labelled by their values."""
    if not res.swept:
        return []
    uniq = {k: np.unique(res.param(k)) for k in res.swept}
    if res.sweep_method in ("grid", "list") or all(u.size < res.n_scenarios for u in uniq.values()):
        return [{"name": labels.param_short(k), "key": k, "values": [f"{v:.4g}" for v in uniq[k]],
                 "index": np.searchsorted(uniq[k], res.param(k)).tolist()} for k in res.swept]
    names = [labels.scenario_label(res, s) for s in range(res.n_scenarios)]
    return [{"name": "scenario", "key": "scenario", "values": names, "index": list(range(res.n_scenarios))}]


SCRIPT = r"""
(function () {
  var D = JSON.parse(document.getElementById('moatsim-data').textContent);
  var sels = D.selectors.map(function (s) { return document.getElementById('sel-' + s.name); });
  function current() {
    // the scenario whose value indices match every selector (the first one, else nearest)
    var want = sels.map(function (el) { return +el.value; }), best = 0, bestMiss = 1e9;
    for (var k = 0; k < D.n; k++) {
      var miss = 0;
      for (var a = 0; a < want.length; a++) if (D.selectors[a].index[k] !== want[a]) miss++;
      if (miss < bestMiss) { best = k; bestMiss = miss; }
    }
    return {k: best, exact: bestMiss === 0};
  }
  function draw() {
    var c = current(), k = c.k;
    document.getElementById('scenario-label').textContent =
      (c.exact ? '' : 'no scenario has this combination; nearest: ') + D.labels[k];
    D.charts.forEach(function (ch) {
      var d = ch.data[k], n = d.q.length, traces = [];
      for (var i = 0; i < Math.floor(n / 2); i++) {
        var lo = D.levels[i], hi = D.levels[n - 1 - i], name = (100 * lo) + '–' + (100 * hi) + ' % of paths';
        traces.push({x: D.time, y: d.q[i], mode: 'lines', line: {width: 0}, showlegend: false,
                     hovertemplate: (100 * lo) + ' %: %{y:.3g} ' + ch.unit + '<extra></extra>', legendgroup: name});
        traces.push({x: D.time, y: d.q[n - 1 - i], mode: 'lines', line: {width: 0}, fill: 'tonexty',
                     fillcolor: 'rgba(46,134,193,' + (0.18 + 0.22 * i) + ')', name: name, legendgroup: name,
                     hovertemplate: (100 * hi) + ' %: %{y:.3g} ' + ch.unit + '<extra></extra>'});
      }
      if (D.median >= 0)
        traces.push({x: D.time, y: d.q[D.median], mode: 'lines', name: 'median', line: {color: '#1b4f72', width: 2},
                     hovertemplate: 'median: %{y:.3g} ' + ch.unit + '<extra></extra>'});
      traces.push({x: D.time, y: d.mean, mode: 'lines', name: 'mean', line: {color: 'black', width: 1, dash: 'dash'},
                   hovertemplate: 'mean: %{y:.3g} ' + ch.unit + '<extra></extra>'});
      Plotly.react(ch.id, traces, {
        title: {text: ch.title + ' [' + ch.unit + ']<br><sub>' + D.labels[k] + '</sub>', font: {size: 14}},
        xaxis: {title: 'time [years]'}, yaxis: {title: ch.axis}, hovermode: 'x unified',
        margin: {t: 70, r: 20, b: 50, l: 70}, height: 380
      }, {displaylogo: false, responsive: true});
    });
    document.body.setAttribute('data-scenario', String(k));
  }
  sels.forEach(function (el) { el.addEventListener('change', draw); });
  // An initial selection from the address: #name=value&name=value
  location.hash.replace(/^#/, '').split('&').forEach(function (kv) {
    var p = kv.split('='), el = document.getElementById('sel-' + decodeURIComponent(p[0] || ''));
    if (!el || p.length < 2) return;
    var v = decodeURIComponent(p[1]);
    for (var i = 0; i < el.options.length; i++)
      if (el.options[i].text === v || el.options[i].value === v) el.selectedIndex = i;
    el.dispatchEvent(new Event('change'));
  });
  draw();
})();
"""


def page(res, title: str) -> str:
    """The page's HTML text."""
    from plotly.offline import get_plotlyjs  # Debian's python3-plotly; imported on use

    levels = res.market["quantile"].values
    mid = np.flatnonzero(np.isclose(levels, 0.5))
    charts = _charts(res)
    data = {"n": res.n_scenarios, "time": _clean(res.time), "levels": [float(v) for v in levels],
            "median": int(mid[0]) if mid.size else -1, "selectors": _selectors(res),
            "labels": [labels.scenario_label(res, s) for s in range(res.n_scenarios)], "charts": charts}
    controls = []
    for sel in data["selectors"]:
        opts = "".join(f'<option value="{i}">{html.escape(v)}</option>' for i, v in enumerate(sel["values"]))
        controls.append(f'<label>{html.escape(sel["key"])} <select id="sel-{html.escape(sel["name"])}">'
                        f"{opts}</select></label>")
    divs = "".join(f'<div class="chart" id="{c["id"]}"></div>' for c in charts)
    payload = json.dumps(data, allow_nan=False).replace("</", "<\\/")
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>"
            "body{font-family:system-ui,sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;color:#1d2733}"
            ".controls{position:sticky;top:0;background:#fff;padding:.6em 0;border-bottom:1px solid #d5dbe1;z-index:5}"
            ".controls label{margin-right:1.4em}#scenario-label{color:#40505f;display:block;margin-top:.3em}"
            f"</style><script>{get_plotlyjs()}</script></head><body>"
            f"<h1>{html.escape(title)}</h1>"
            "<p>Quantile bands across paths over time; hover for the values. "
            + ("Choose the swept parameters' values to redraw every chart for that scenario."
               if data["selectors"] else "One scenario.") + "</p>"
            f'<div class="controls">{"".join(controls)}<span id="scenario-label"></span></div>{divs}'
            f'<script type="application/json" id="moatsim-data">{payload}</script>'
            f"<script>{SCRIPT}</script></body></html>")


def write(res, path: str, title: str = "moatsim: interactive fan charts") -> str:
    with open(path, "w", encoding="utf-8") as f:
        f.write(page(res, title))
    return path
