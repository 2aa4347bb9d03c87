"""Words and units for figures: each metric's title and unit as a reader sees them ("×" for
ratios, "%" for shares), and short labels for swept parameters and scenarios."""
from __future__ import annotations

import numpy as np

# metric -> (title in words, short axis words, unit, kind): kind "ratio" is drawn as "×",
# "share" in %.
METRICS = {
    "premium_flagship": ("Flagship price premium: closed flagships over open models", "price premium", "×", "ratio"),
    "premium_avg": ("Average price premium: all closed offers over open offers", "price premium", "×", "ratio"),
    "share_closed": ("Closed labs' share of token volume", "closed share", "%", "share"),
    "share_open_cloud": ("Open models on clouds: share of token volume", "open on clouds", "%", "share"),
    "share_open_first_party": ("Open labs' own APIs: share of token volume", "open first-party", "%", "share"),
    "share_local": ("Local inference: share of token volume", "local share", "%", "share"),
    "revenue_share_closed": ("Closed labs' share of token spend", "closed revenue share", "%", "share"),
    "unserved_share": ("Share of token demand left unserved", "unserved", "%", "share"),
    "quality_gap": ("Quality gap of the best open model to the frontier", "quality gap", "%", "share"),
    "rerating": ("Re-rating of the revenue multiple (multiple over today's)", "re-rating", "×", "ratio"),
    "dilution": ("Dilution: shares outstanding over today's", "dilution", "×", "ratio"),
    "dcf_ratio": ("Discounted cash flows over today's valuation", "DCF / valuation", "×", "ratio"),
    "gross_margin": ("Gross margin", "gross margin", "%", "share"),
    "lab_exits": ("Labs that exited, per path", "exits", "labs", "count"),
}


def metric_title(metric: str, da=None) -> str:
    if metric in METRICS:
        return METRICS[metric][0]
    long = str(da.attrs.get("long_name", "")) if da is not None else ""
    return long.replace("mean over paths of ", "") or metric.replace("_", " ")


def metric_unit(metric: str, da=None) -> str:
    """'×', '%', or the file's units ('USD/Mtok'); '' for a plain number."""
    if metric in METRICS:
        return METRICS[metric][2]
    u = str(da.attrs.get("units", "")) if da is not None else ""
    return "" if u in ("", "1") else u


def axis_label(metric: str, da=None) -> str:
    """Short words and the unit for an axis: 'price premium [×]'."""
    unit = metric_unit(metric, da)
    words = METRICS[metric][1] if metric in METRICS else metric.replace("_", " ")
    return words + (f" [{unit}]" if unit else "")


def scale(metric: str) -> float:
    """Factor from the file's value to the unit shown (100 for shares in %)."""
    return 100.0 if metric in METRICS and METRICS[metric][3] == "share" else 1.0


def fmt_value(metric: str, v, digits: int = 3) -> str:
    """A value with its unit: '14.3×', '68.6 %', '0.42'."""
    if v is None or not np.isfinite(v):
        return "–"
    unit = metric_unit(metric)
    if unit == "%":
        return f"{100 * v:.1f} %"
    if unit == "×":
        return f"{v:.{digits}g}×"
    return f"{v:.{digits}g}" + (f" {unit}" if unit else "")


def param_short(key: str) -> str:
    """'long_run' for 'quality_gap.long_run', 'open-a lag' for 'labs.open-a.lag'."""
    parts = key.split(".")
    if parts[0] in ("labs", "clouds") and len(parts) == 3:
        return f"{parts[1]} {parts[2]}"
    return parts[-1]


def param_label(res, key: str) -> str:
    """'quality_gap.long_run (long-run gap g_inf …)' shortened: the key and its unit."""
    da = res.params[key] if key in res.params else None
    u = str(da.attrs.get("units", "")) if da is not None else ""
    return key + (f" [{u}]" if u not in ("", "1") else "")


def scenario_label(res, s: int, short: bool = True) -> str:
    """A scenario by its swept values ('long_run = 0.01, cost_decline_per_year = 0.2'); a
    single-scenario file by its name."""
    if not res.swept:
        from analysis.load import string_param
        return string_param(res.params.attrs.get("name", "scenario"))
    parts = []
    for key in res.swept:
        name = param_short(key) if short else key
        parts.append(f"{name} = {res.param(key)[s]:.3g}")
    return ", ".join(parts)
