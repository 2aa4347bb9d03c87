"""Sensitivity indices and scenario discovery on a moatsim results file, in NumPy.

`sensitivity(path, outputs)` and `discover(path, where)` compute what `moatsim sensitivity` and
`moatsim discover` compute (the same estimators, the same bootstrap rows, the same PRIM rules;
docs/analysis.md) and return xarray Datasets laid out as the commands' `/analysis` sidecar
groups. This is an independent implementation of the C code (sim/analysis/sensitivity.c, sim/analysis/prim.c):
tests/python/test_sensitivity.py checks that both give the same numbers.

Output names: [group/]metric[[lab or cloud]][@T[y]][:stat], e.g. premium_flagship@10y,
labs/valuation[closed-a]@5y:p95, lab_exits:median; stat is mean (default), std, median or pNN.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import xarray as xr

BOOTSTRAP = 1000  # resamples behind every interval (MOAT_SENS_BOOTSTRAP)
LEVEL = 0.95
SEED = 0x53454E53  # "SENS" (MOAT_SENS_SEED)
PRIM_ALPHA = 0.05
PRIM_MASS_MIN = 0.05
PRIM_MIN_SCENARIOS = 50

_SPEC = re.compile(r"^(?:(market|labs|clouds)/)?([^\[@:/]+)(?:\[([^\]]+)\])?(?:@([0-9.eE+-]+)y?)?(?::(\S+))?$")
_MASK = (1 << 64) - 1


class AnalysisError(ValueError):
    """Bad input: an output the file does not hold, a file without the needed design, ..."""


@dataclass
class OutputSpec:
    text: str
    group: str
    metric: str
    member: str | None
    time: float | None
    stat: str
    level: float | None  # quantile level for median / pNN


def parse_output(text: str) -> OutputSpec:
    """Parse an output name (the notation of docs/analysis.md)."""
    text = text.strip()
    m = _SPEC.match(text)
    if not m:
        raise AnalysisError(f"output {text!r}: the form is [group/]metric[[lab]][@T][:stat]")
    group, metric, member, t, stat = m.groups()
    stat = stat or "mean"
    level = None
    if stat == "median":
        level = 0.5
    elif stat.startswith("p"):
        try:
            level = float(stat[1:]) / 100
        except ValueError:
            level = -1
        if not 0 < level < 1:
            raise AnalysisError(f"output {text!r}: the statistic is not mean, std, median or pNN")
    elif stat not in ("mean", "std"):
        raise AnalysisError(f"output {text!r}: the statistic is not mean, std, median or pNN")
    return OutputSpec(text, group or "market", metric, member, float(t) if t is not None else None,
                      stat, level)


def parse_condition(text: str):
    """'SPEC < 5' -> (OutputSpec, operator, threshold); operators <, <=, >, >=."""
    m = re.match(r"^(.*?)(<=|>=|<|>)\s*(\S+)\s*$", text)
    if not m:
        raise AnalysisError(f"condition {text!r}: write OUTPUT < VALUE (or <=, >, >=)")
    return parse_output(m.group(1)), m.group(2), float(m.group(3))


def _holds(op: str, y, threshold: float):
    return {"<": y < threshold, "<=": y <= threshold, ">": y > threshold, ">=": y >= threshold}[op]


def _text(v) -> str:
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray) and v.ndim == 0:
        return _text(v.item())
    return str(v)


def read_output(path: str, spec: OutputSpec | str):
    """(values, noise) of the output for every scenario; noise is the squared standard error of a
    mean over paths (std^2 / count, 0 with fewer than 2 paths) and 0 for other statistics."""
    import h5py

    if isinstance(spec, str):
        spec = parse_output(spec)
    with h5py.File(path, "r") as f:
        done = f["market/scenario_done"][...]
        if not done.all():
            raise AnalysisError(f"{int((done == 0).sum())} of {done.size} scenarios are not written")
        g = f[spec.group]
        if f"{spec.metric}_mean" not in g:
            have = sorted(k[:-5] for k in g if k.endswith("_mean"))
            raise AnalysisError(f"output {spec.text!r}: no metric {spec.metric!r} in /{spec.group}; "
                                f"it has: {', '.join(have)}")
        mean = g[f"{spec.metric}_mean"]
        index = []
        if spec.group != "market":
            dim = "lab" if spec.group == "labs" else "cloud"
            names = [_text(n) for n in g[dim][...]]
            if spec.member not in names:
                raise AnalysisError(f"output {spec.text!r}: {dim} {spec.member!r} is not in the file; "
                                    f"the {dim}s are: {', '.join(names)}")
            index.append(names.index(spec.member))
        has_time = mean.ndim - 1 - (spec.group != "market") == 1
        if has_time != (spec.time is not None):
            raise AnalysisError(f"output {spec.text!r}: " + ("say when with @T" if has_time else "drop the @T"))
        if has_time:
            t = np.asarray(g["time"][...], float)
            if _text(g["time"].attrs.get("units", "")).startswith("days"):
                t = t / 360.0  # format 2: days of 360-day years
            dt = t[1] - t[0] if t.size > 1 else 0.0
            if spec.time > t[-1] + dt + 1e-9:
                raise AnalysisError(f"output {spec.text!r}: time {spec.time} is outside the time axis")
            index.append(int(np.nonzero(t <= spec.time + 1e-9)[0][-1]))
        if spec.level is not None:
            levels = g["quantile"][...]
            hit = np.nonzero(np.abs(levels - spec.level) < 1e-9)[0]
            if hit.size == 0:
                raise AnalysisError(f"output {spec.text!r}: no quantile at level {spec.level}")
            y = g[f"{spec.metric}_quantile"][(slice(None), int(hit[0]), *index)]
        else:
            y = g[f"{spec.metric}_{spec.stat}"][(slice(None), *index)]
        noise = np.zeros_like(y)
        if spec.stat == "mean":
            sd = g[f"{spec.metric}_std"][(slice(None), *index)]
            n = g[f"{spec.metric}_count"][(slice(None), *index)].astype(float)
            ok = n >= 2
            noise[ok] = sd[ok] ** 2 / n[ok]
    return np.asarray(y, float), noise


def read_design(path: str) -> dict:
    """The sweep design recorded in /params: method, samples, levels, second_order, the swept
    parameters' keys and their values per scenario (x: scenarios x parameters)."""
    import h5py

    with h5py.File(path, "r") as f:
        g = f["params"]
        params = _text(g.attrs.get("swept_params", "")).split()
        if not params:
            raise AnalysisError(f"{path} holds no sweep (no swept parameters in /params)")
        names = _text(g.attrs.get("swept_variables", "")).split() or params  # format 2: CF names
        x = np.column_stack([g[v][...] for v in names]).astype(float)
        crn = int(g.attrs.get("sweep_common_random_numbers", 0))
        return {"method": _text(g.attrs.get("sweep_method", "none")),
                "samples": int(g.attrs.get("sweep_samples", 0)),
                "levels": int(g.attrs.get("sweep_levels", 0)),
                "second_order": int(g.attrs.get("sweep_second_order", 0)),
                "params": params, "x": x, "common_random_numbers": crn}


# ---- bootstrap ----------------------------------------------------------------------------

def _mix64(x):
    """splitmix64 on numpy uint64 arrays (wrapping arithmetic), as sim/analysis/sensitivity.c."""
    x = (x + np.uint64(0x9E3779B97F4A7C15))
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def resample_rows(n_boot: int, n: int) -> np.ndarray:
    """Row j of resample b: floor(U n), U = 53 bits of mix(mix(mix(SEED) ^ b) ^ j) / 2^53."""
    with np.errstate(over="ignore"):
        b = np.arange(n_boot, dtype=np.uint64)[:, None]
        j = np.arange(n, dtype=np.uint64)[None, :]
        h = _mix64(_mix64(_mix64(np.uint64(SEED)) ^ b) ^ j)
    u = (h >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
    return np.minimum((u * n).astype(np.int64), n - 1)


def _interval(values: np.ndarray):
    """Percentiles 2.5 and 97.5 (linear, Hyndman-Fan 7) of each column, ignoring non-finite."""
    out = np.full((values.shape[1], 2), np.nan)
    for i in range(values.shape[1]):
        v = values[:, i][np.isfinite(values[:, i])]
        if v.size:
            out[i] = np.quantile(v, [(1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2])
    return out


# ---- Sobol --------------------------------------------------------------------------------

def _sobol_point(fa, fb, fab, na, nb, nab, fba=None):
    """S_i, S_Ti (and S_ij) from rows of f(A), f(B), f(A_B^i) (rows x k), noise alike."""
    n = fa.size
    mean = (fa.sum() + fb.sum()) / (2 * n)
    noise = (na.sum() + nb.sum()) / (2 * n)
    var = (((fa - mean) ** 2).sum() + ((fb - mean) ** 2).sum()) / (2 * n) - noise
    s1 = ((fb - mean)[:, None] * (fab - fa[:, None])).mean(axis=0) / var
    st = (0.5 * (fa[:, None] - fab) ** 2 - 0.5 * (na[:, None] + nab)).mean(axis=0) / var
    s2 = None
    if fba is not None:
        k = fab.shape[1]
        s2 = np.full((k, k), np.nan)
        for i in range(k):
            for j in range(i + 1, k):
                s2[i, j] = (fba[:, i] * fab[:, j] - fa * fb).mean() / var - s1[i] - s1[j]
    return s1, st, s2, var, noise


def sobol(y, noise, k: int, second_order: bool = False) -> dict:
    """Sobol indices from outputs in a Saltelli design's scenario order (docs/analysis.md)."""
    y = np.asarray(y, float)
    noise = np.zeros_like(y) if noise is None else np.asarray(noise, float)
    block = 2 * k + 2 if second_order else k + 2
    n = y.size // block
    if not np.isfinite(y).all():
        raise AnalysisError(f"the output of scenario {int(np.nonzero(~np.isfinite(y))[0][0])} is not finite")
    y, noise = y.reshape(n, block), noise.reshape(n, block)
    parts = lambda a: (a[:, 0], a[:, -1], a[:, 1:k + 1], a[:, k + 1:2 * k + 1] if second_order else None)  # noqa: E731
    fa, fb, fab, fba = parts(y)
    na, nb, nab, _ = parts(noise)
    s1, st, s2, var, nmean = _sobol_point(fa, fb, fab, na, nb, nab, fba)
    if not var > 0:
        raise AnalysisError("the output does not vary with the swept parameters beyond sampling noise")
    rows = resample_rows(BOOTSTRAP, n)
    b1 = np.empty((BOOTSTRAP, k))
    bt = np.empty((BOOTSTRAP, k))
    for b in range(BOOTSTRAP):
        r = rows[b]
        b1[b], bt[b], _, _, _ = _sobol_point(fa[r], fb[r], fab[r], na[r], nb[r], nab[r])
    return {"S1": s1, "S1_conf": _interval(b1), "ST": st, "ST_conf": _interval(bt), "S2": s2,
            "variance": var, "noise_variance": nmean}


# ---- Morris -------------------------------------------------------------------------------

def morris(y, x, k: int, levels: int) -> dict:
    """Morris mu, mu*, sigma from r trajectories of k + 1 scenarios (values x: scenarios x k)."""
    y = np.asarray(y, float)
    r = y.size // (k + 1)
    delta = levels / (2.0 * (levels - 1))
    ee = np.full((r, k), np.nan)
    for t in range(r):
        for m in range(1, k + 1):
            s = t * (k + 1) + m
            moved = np.nonzero(x[s] != x[s - 1])[0]
            if moved.size != 1:
                raise AnalysisError(f"scenarios {s - 1} and {s} differ in {moved.size} parameters")
            a = int(moved[0])
            sign = 1.0 if x[s, a] > x[s - 1, a] else -1.0
            ee[t, a] = (y[s] - y[s - 1]) / (sign * delta)
    rows = resample_rows(BOOTSTRAP, r)
    boot = np.abs(ee)[rows].mean(axis=1)
    return {"mu": ee.mean(axis=0), "mu_star": np.abs(ee).mean(axis=0), "sigma": ee.std(axis=0, ddof=1),
            "mu_star_conf": _interval(boot)}


def _rank(v: np.ndarray) -> np.ndarray:
    """1 = largest; ties in axis order (as the C code)."""
    return np.array([1 + sum(v[j] > v[i] or (v[j] == v[i] and j < i) for j in range(v.size))
                     for i in range(v.size)], dtype=np.int32)


def sensitivity(path: str, outputs, noise_correction: bool = True) -> xr.Dataset:
    """Sobol (saltelli design) or Morris (morris design) indices of each output over the swept
    parameters, as the `/analysis` group `moatsim sensitivity` writes."""
    if isinstance(outputs, str):
        outputs = [outputs]
    d = read_design(path)
    k, method = len(d["params"]), d["method"]
    if method not in ("saltelli", "morris"):
        raise AnalysisError(f"{path} holds a {method} sweep; sensitivity needs a saltelli or morris design")
    correct = noise_correction and not d["common_random_numbers"]
    rows = []
    for name in outputs:
        spec = parse_output(name)
        y, noise = read_output(path, spec)
        if method == "morris":
            rows.append(morris(y, d["x"], k, d["levels"]))
        else:
            use = correct and spec.stat == "mean"
            rows.append(sobol(y, noise if use else None, k, bool(d["second_order"])))
    coords = {"output": list(outputs), "parameter": d["params"], "bound": ["low", "high"]}
    op, opb = ("output", "parameter"), ("output", "parameter", "bound")
    if method == "morris":
        data = {"mu_star": (op, np.array([r["mu_star"] for r in rows])),
                "mu_star_conf": (opb, np.array([r["mu_star_conf"] for r in rows])),
                "mu": (op, np.array([r["mu"] for r in rows])),
                "sigma": (op, np.array([r["sigma"] for r in rows]))}
        key = "mu_star"
    else:
        data = {"ST": (op, np.array([r["ST"] for r in rows])),
                "ST_conf": (opb, np.array([r["ST_conf"] for r in rows])),
                "S1": (op, np.array([r["S1"] for r in rows])),
                "S1_conf": (opb, np.array([r["S1_conf"] for r in rows])),
                "variance": (("output",), np.array([r["variance"] for r in rows])),
                "noise_variance": (("output",), np.array([r["noise_variance"] for r in rows]))}
        if d["second_order"]:
            data["S2"] = (("output", "parameter", "parameter_j"), np.array([r["S2"] for r in rows]))
            coords["parameter_j"] = d["params"]
        key = "ST"
    data["rank"] = (op, np.array([_rank(v) for v in data[key][1]]))
    attrs = {k2: d[k2] for k2 in ("method", "samples", "levels", "second_order")}
    attrs.update(bootstrap=BOOTSTRAP, level=LEVEL, bootstrap_seed=SEED)
    return xr.Dataset(data, coords=coords, attrs=attrs)


# ---- PRIM ---------------------------------------------------------------------------------

def _percentile(v: np.ndarray, q: float) -> float:
    v = np.sort(v)
    h = (v.size - 1) * q
    lo = int(math.floor(h))
    if lo + 1 >= v.size:
        return float(v[-1])
    return float(v[lo] + (h - lo) * (v[lo + 1] - v[lo]))


def _inside(x, low, high, skip=-1):
    ok = np.ones(x.shape[0], bool)
    for d in range(x.shape[1]):
        if d != skip:
            ok &= (x[:, d] >= low[d]) & (x[:, d] <= high[d])
    return ok


def _box(x, hit, low, high, total_hit, pasted):
    inb = _inside(x, low, high)
    n, nh = int(inb.sum()), int(hit[inb].sum())
    lo0, hi0 = x.min(axis=0), x.max(axis=0)
    return {"low": low.copy(), "high": high.copy(), "n": n, "n_hit": nh, "coverage": nh / total_hit,
            "density": nh / n if n else 0.0, "mass": n / x.shape[0],
            "restricted": int(((low > lo0) | (high < hi0)).sum()), "pasted": pasted}


def _try(x, hit, low, high, d, side, value, n_box, peel, best):
    lim = high if side else low
    keep = lim[d]
    lim[d] = value
    inb = _inside(x, low, high)
    lim[d] = keep
    n = int(inb.sum())
    dens = hit[inb].sum() / n if n else 0.0
    valid = (0 < n < n_box) if peel else (n > n_box)
    if valid and (best is None or dens > best[4] or (dens == best[4] and n > best[5])):
        return (d, side, value, None, dens, n)
    return best


def prim(x: np.ndarray, hit: np.ndarray, alpha: float = PRIM_ALPHA, mass_min: float = PRIM_MASS_MIN):
    """The PRIM trajectory (list of boxes) as sim/analysis/prim.c builds it."""
    x = np.asarray(x, float)
    hit = np.asarray(hit, bool)
    n, k = x.shape
    total = int(hit.sum())
    if n < PRIM_MIN_SCENARIOS:
        raise AnalysisError(f"PRIM needs at least {PRIM_MIN_SCENARIOS} scenarios, the sweep has {n}")
    if total in (0, n):
        raise AnalysisError(f"the condition holds in {'none' if total == 0 else 'all'} of the {n} scenarios")
    low, high = x.min(axis=0).copy(), x.max(axis=0).copy()
    steps = [_box(x, hit, low, high, total, 0)]
    while steps[-1]["density"] < 1:
        n_box, best = steps[-1]["n"], None
        inb = _inside(x, low, high)
        for d in range(k):
            col = np.sort(x[inb, d])
            for side in (0, 1):
                q = _percentile(col, 1 - alpha if side else alpha)
                if not side and q <= col[0]:
                    above = col[col > col[0]]
                    q = float(above[0]) if above.size else math.nan
                if side and q >= col[-1]:
                    below = col[col < col[-1]]
                    q = float(below[-1]) if below.size else math.nan
                if not math.isnan(q):
                    best = _try(x, hit, low, high, d, side, q, n_box, True, best)
        if best is None or best[5] < mass_min * n:
            break
        (high if best[1] else low)[best[0]] = best[2]
        steps.append(_box(x, hit, low, high, total, 0))
    while True:
        cur, best = steps[-1], None
        want = math.ceil(alpha * cur["n"])
        for d in range(k):
            other = _inside(x, low, high, skip=d)
            for side in (0, 1):
                beyond = (x[:, d] > high[d]) if side else (x[:, d] < low[d])
                col = np.sort(x[other & beyond, d])
                if col.size == 0:
                    continue
                take = min(want, col.size)
                value = col[take - 1] if side else col[col.size - take]
                best = _try(x, hit, low, high, d, side, float(value), cur["n"], False, best)
        if best is None or not best[4] > cur["density"]:
            break
        (high if best[1] else low)[best[0]] = best[2]
        steps.append(_box(x, hit, low, high, total, 1))
    return steps


def choose(steps, min_coverage: float = 0.5) -> int:
    """The densest box with coverage >= min_coverage (ties: higher coverage); else step 0."""
    best, found = 0, False
    for b, s in enumerate(steps):
        if s["coverage"] < min_coverage:
            continue
        y = steps[best]
        if not found or s["density"] > y["density"] or (s["density"] == y["density"] and s["coverage"] > y["coverage"]):
            best, found = b, True
    return best


def _binom_sf(h: int, n: int, p: float) -> float:
    """P(Binomial(n, p) >= h)."""
    if h <= 0:
        return 1.0
    return float(sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(h, n + 1)))


def quasi_p(x, hit, steps, b: int) -> np.ndarray:
    """EMA Workbench quasi-p-values of box b's restricted parameters (NaN elsewhere)."""
    box, first = steps[b], steps[0]
    hit = np.asarray(hit, bool)
    out = np.full(x.shape[1], np.nan)
    for d in range(x.shape[1]):
        if box["low"][d] > first["low"][d] or box["high"][d] < first["high"][d]:
            inb = _inside(x, box["low"], box["high"], skip=d)
            p = hit[inb].sum() / inb.sum()
            out[d] = _binom_sf(box["n_hit"], box["n"], p)
    return out


def discover(path: str, where: str, min_coverage: float = 0.5, box: int | None = None) -> xr.Dataset:
    """PRIM on the scenarios of a results file for the condition `where` ('SPEC < 5'), as the
    `/analysis` group `moatsim discover` writes."""
    d = read_design(path)
    spec, op, threshold = parse_condition(where)
    y, _ = read_output(path, spec)
    hit = _holds(op, y, threshold)
    steps = prim(d["x"], hit)
    chosen = choose(steps, min_coverage) if box is None else box
    qp = quasi_p(d["x"], hit, steps, chosen)
    lim = np.array([np.column_stack([s["low"], s["high"]]) for s in steps])
    step_vars = {name: (("step",), np.array([s[name] for s in steps]))
                 for name in ("coverage", "density", "mass", "n", "n_hit", "restricted", "pasted")}
    c = steps[chosen]
    return xr.Dataset(
        {**step_vars, "limits": (("step", "parameter", "bound"), lim),
         "box_limits": (("parameter", "bound"), lim[chosen]), "quasi_p": (("parameter",), qp)},
        coords={"step": np.arange(len(steps), dtype=np.int32), "parameter": d["params"], "bound": ["low", "high"]},
        attrs={"method": "prim", "condition": where, "chosen_step": chosen, "box_coverage": c["coverage"],
               "box_density": c["density"], "box_n": c["n"], "n_scenarios": len(y), "n_hit": int(hit.sum()),
               "alpha": PRIM_ALPHA, "mass_min": PRIM_MASS_MIN})
