"""Loading a moatsim result file into xarray Datasets, one per HDF5 group.

The file is netCDF-4 compatible HDF5 (layout: docs/output.md; usage: docs/analysis.md): /market, /labs, /clouds and
/params hold per-scenario summaries and parameters, /paths (with --keep-paths) the raw paths.
`load` opens every group, attaches the swept parameters as coordinates on the `scenario`
dimension and returns a `Result` that selects scenarios by parameter value and exports tidy
pandas frames.
"""
from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

SUMMARY_GROUPS = ("market", "labs", "clouds")
DAYS_PER_YEAR = 360.0  # format 2: time in days of the 360-day calendar (docs/output.md)
ENGINES = ("h5netcdf", "netcdf4")
STATS = ("mean", "std", "count", "quantile")


def _as_text(value) -> str:
    """An HDF5 string attribute as str (h5py and netCDF return bytes, str or 0-d arrays)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return _as_text(value.item())
    return str(value)


def string_param(value) -> str:
    """A string parameter of /params as plain text: the file keeps libconfig's literal
    ("\"closed-a\"", "[\"cn\"]"); a quoted scalar loses its quotes, lists stay as written."""
    text = _as_text(value).strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def _as_list(value) -> list[str]:
    """A list-of-strings attribute: a string array, or one string separated by commas/spaces."""
    if value is None:
        return []
    if isinstance(value, (list, tuple, np.ndarray)) and np.ndim(value) > 0:
        return [_as_text(v) for v in value if _as_text(v)]
    return [s for s in re.split(r"[,\s]+", _as_text(value)) if s]


def _group_names(path: str) -> list[str]:
    """Top-level groups and /paths subgroups present in the file, as 'market', 'paths/labs'."""
    import h5py  # imported here so that `import analysis` stays cheap

    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise OSError(f"{path}: not a readable HDF5 file ({exc}); moatsim results are written by "
                      "`moatsim run` (an interrupted run leaves FILE.partial)") from exc
    with f:
        names = [k for k in f.keys() if isinstance(f[k], h5py.Group)]
        if "paths" in names:
            names.remove("paths")
            names += ["paths/" + k for k in f["paths"].keys() if isinstance(f["paths"][k], h5py.Group)]
        return names


def pick_engine(path: str, group: str = "market") -> str:
    """The first netCDF engine of ENGINES that opens `group` of `path` without a warning.

    Falls back to the first one that opens it at all; raises the last error if none does."""
    opened, last_error = None, None
    for engine in ENGINES:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                xr.open_dataset(path, group=group, engine=engine, decode_times=False).close()
        except Exception as exc:  # an engine that cannot open the file: try the next one
            last_error = exc
            continue
        if not caught:
            return engine
        opened = opened or engine
    if opened:
        return opened
    raise OSError(f"{path}: no netCDF engine ({', '.join(ENGINES)}) can open group /{group}: {last_error}")


def time_in_years(values, units) -> np.ndarray:
    """A time coordinate in years, from either file format: format 2 stores CF days since the
    start of 360-day years ("days since 2026-01-01 00:00:00", calendar 360_day), format 1 years."""
    values = np.asarray(values, dtype=float)
    return values / DAYS_PER_YEAR if _as_text(units).startswith("days since") else values


def _years_coordinate(ds: xr.Dataset) -> xr.Dataset:
    """Format 2's CF time (days) as the years every analysis works in; format 1 passes through."""
    if "time" not in ds.coords or not _as_text(ds["time"].attrs.get("units", "")).startswith("days since"):
        return ds
    attrs = {"units": "years", "long_name": "time since the start, t = n dt"}
    return ds.assign_coords(time=("time", time_in_years(ds["time"].values, ds["time"].attrs["units"]), attrs))


def _params_by_key(ds: xr.Dataset) -> xr.Dataset:
    """Format 2's /params (CF names, the dotted key in attribute `key`; text parameters as scalar
    strings) as format 1 laid it out: variables named by dotted key, text parameters as attributes."""
    keyed = {name: _as_text(v.attrs["key"]) for name, v in ds.data_vars.items() if "key" in v.attrs}
    if not keyed:
        return ds
    text = {name: key for name, key in keyed.items() if ds[name].ndim == 0}
    attrs = dict(ds.attrs)
    attrs.update({key: _as_text(ds[name].values) for name, key in text.items()})
    ds = ds.drop_vars(list(text)).rename({n: k for n, k in keyed.items() if n not in text and n != k})
    ds.attrs = attrs
    return ds


def _open_group(path: str, group: str, engine: str) -> xr.Dataset:
    ds = xr.open_dataset(path, group=group, engine=engine, mask_and_scale=True, decode_times=False)
    if "scenario" in ds.dims and "scenario" not in ds.coords:
        ds = ds.assign_coords(scenario=np.arange(ds.dims["scenario"]))
    ds = _years_coordinate(ds)
    return _params_by_key(ds) if group == "params" else ds


def root_attrs(path: str, engine: str | None = None) -> dict:
    """Root attributes (provenance) of either format, with `scenario_text` (a root variable in
    format 2, an attribute in format 1) among them."""
    with xr.open_dataset(path, engine=engine or pick_engine(path), decode_times=False) as root:
        attrs = dict(root.attrs)
        if "scenario_text" in root.variables:
            attrs["scenario_text"] = _as_text(root["scenario_text"].values)
    return attrs


class MissingGroupError(KeyError):
    """A group the file does not have ('paths/market' without --keep-paths); a KeyError whose
    text reads as a sentence (KeyError's own str() quotes it)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass
class Result:
    """A moatsim result file: one xarray Dataset per group, with the swept parameters as
    coordinates of the `scenario` dimension.

    Attributes: path, engine, attrs (root attributes: provenance), groups ({"market": ds,
    "labs": ds, "clouds": ds, "params": ds, "paths/market": ds, ...}), swept (swept parameter
    keys, in sweep-axis order)."""

    path: str
    engine: str
    attrs: dict
    groups: dict
    swept: list = field(default_factory=list)

    # -- access ----------------------------------------------------------------------------
    def __getitem__(self, name: str) -> xr.Dataset:
        if name not in self.groups:
            have = ", ".join(self.groups)
            if name.startswith("paths"):
                raise MissingGroupError(
                    f"{self.path} has no group /{name}: paths are kept only when the run asks for "
                    "them (moatsim run --keep-paths, or output.keep_paths = true); the summaries "
                    f"are in /market, /labs and /clouds (groups: {have})")
            raise MissingGroupError(f"{self.path} has no group /{name} (groups: {have})")
        return self.groups[name]

    @property
    def done(self) -> np.ndarray:
        """Per scenario: True when it was written (scenario_done = 1). A run stopped early, or
        one shard of a sweep, leaves the others False (their values read as NaN)."""
        market = self.groups["market"]
        if "scenario_done" not in market:
            return np.ones(self.n_scenarios, dtype=bool)
        return market["scenario_done"].values == 1

    def __contains__(self, name: str) -> bool:
        return name in self.groups

    market = property(lambda self: self.groups["market"], doc="summaries of market metrics")
    labs = property(lambda self: self.groups["labs"], doc="summaries of per-lab metrics")
    clouds = property(lambda self: self.groups["clouds"], doc="summaries of per-cloud metrics")
    params = property(lambda self: self.groups["params"], doc="effective parameters per scenario")

    @property
    def paths(self) -> dict | None:
        """{"market": ds, "labs": ds, "clouds": ds} of the raw paths, or None without --keep-paths."""
        sub = {k.split("/", 1)[1]: v for k, v in self.groups.items() if k.startswith("paths/")}
        return sub or None

    @property
    def n_scenarios(self) -> int:
        return int(self.market.dims["scenario"])

    @property
    def time(self) -> np.ndarray:
        """Time of each step, years."""
        return self.market["time"].values

    @property
    def closed_labs(self) -> list[str]:
        kinds = self.labs["lab_kind"].values
        return [str(n) for n, k in zip(self.labs["lab"].values, kinds) if _as_text(k) == "closed"]

    @property
    def sweep_method(self) -> str:
        """'none', 'grid', 'list', 'lhs' or 'sobol': from the params group, else the scenario
        text, else inferred (a full Cartesian product of the swept values is a grid)."""
        for key in ("sweep_method", "sweep.method"):
            if key in self.params.attrs:
                return _as_text(self.params.attrs[key])
        text = _as_text(self.attrs.get("scenario_text", ""))
        m = re.search(r"sweep\s*[=:]\s*\{[^}]*?method\s*[=:]\s*\"(\w+)\"", text, re.S)
        if m:
            return m.group(1)
        if not self.swept:
            return "none"
        sizes = [len(np.unique(self.param(k))) for k in self.swept]
        return "grid" if int(np.prod(sizes)) == self.n_scenarios else "list"

    def param(self, key: str) -> np.ndarray:
        """Values of a numeric parameter over the scenarios."""
        if key not in self.params:
            raise KeyError(f"{key}: not a numeric parameter of {self.path} "
                           f"(known: {', '.join(sorted(self.params.data_vars))})")
        return self.params[key].values

    def scenario_label(self, index: int, short: bool = True, max_params: int | None = None) -> str:
        """'#2 long_run=0.03, cost_decline_per_year=0.4' (short keys) for scenario `index`; just
        '#2' when more than `max_params` parameters are swept."""
        parts = []
        if max_params is not None and len(self.swept) > max_params:
            return f"#{index}"
        for key in self.swept:
            name = key.rsplit(".", 1)[-1] if short else key
            parts.append(f"{name}={self.param(key)[index]:.4g}")
        return f"#{index}" + (" " + ", ".join(parts) if parts else "")

    def group_of(self, metric: str, group: str | None = None) -> str:
        """The group holding summaries of `metric` (market first, then labs, then clouds)."""
        for g in ([group] if group else SUMMARY_GROUPS):
            if g in self.groups and f"{metric}_mean" in self.groups[g]:
                return g
        where = f"group /{group}" if group else "any of " + ", ".join(SUMMARY_GROUPS)
        raise KeyError(f"{metric}: no summary {metric}_mean in {where} of {self.path}")

    def stat(self, metric: str, stat: str = "mean", group: str | None = None) -> xr.DataArray:
        """Summary `stat` ('mean', 'std', 'count', 'quantile') of `metric`, with the swept
        parameters as scenario coordinates."""
        if stat not in STATS:
            raise ValueError(f"stat = {stat!r}: expected one of {', '.join(STATS)}")
        return self.groups[self.group_of(metric, group)][f"{metric}_{stat}"]

    def last_step(self) -> np.ndarray:
        """Index of each scenario's last step: round(horizon_years * steps_per_year) - 1 (a sweep
        over the horizon writes every scenario on the longest time axis, NaN-padded)."""
        steps = np.rint(self.param("horizon_years") * self.param("steps_per_year")).astype(int)
        return np.clip(steps, 1, self.market.dims["time"]) - 1

    def horizon(self, metric: str, stat: str = "mean", group: str | None = None) -> xr.DataArray:
        """`stat` of `metric` at each scenario's last step (per-path metrics have no time and
        pass through); the `time` coordinate then says which time that was, per scenario."""
        da = self.stat(metric, stat, group)
        if "time" not in da.dims:
            return da
        last = self.last_step()
        if np.all(last == da.sizes["time"] - 1):
            return da.isel(time=-1)
        return da.isel(time=xr.DataArray(last, dims="scenario"))

    # -- selection -------------------------------------------------------------------------
    def scenarios(self, **values) -> np.ndarray:
        """Indices of the scenarios whose parameters equal `values` (keys are dotted parameter
        keys; a value may be a number or a list of numbers; comparison with rtol 1e-9)."""
        mask = np.ones(self.n_scenarios, dtype=bool)
        for key, want in values.items():
            have = self.param(key)
            wants = np.atleast_1d(np.asarray(want, dtype=float))
            hit = np.zeros_like(mask)
            for w in wants:
                hit |= np.isclose(have, w, rtol=1e-9, atol=0.0)
            if not hit.any():
                raise KeyError(f"{key} = {want}: no scenario has this value "
                               f"(values in the file: {', '.join(f'{v:g}' for v in np.unique(have))})")
            mask &= hit
        return np.flatnonzero(mask)

    def where_param(self, **values) -> "Result":
        """The scenarios whose parameters equal `values`, as a Result (scenario dim kept)."""
        return self.isel(scenario=self.scenarios(**values))

    def isel(self, **indexers) -> "Result":
        """Positional selection applied to every group that has the indexed dimensions."""
        groups = {}
        for name, ds in self.groups.items():
            own = {d: v for d, v in indexers.items() if d in ds.dims}
            groups[name] = ds.isel(**own) if own else ds
        return Result(self.path, self.engine, self.attrs, groups, list(self.swept))

    def sel(self, method: str | None = None, **indexers) -> "Result":
        """Label selection on every group. Keys that are parameters ("quality_gap.long_run")
        select scenarios by value; other keys (time, lab, cloud, quantile, scenario, path)
        go to xarray's sel on the groups that have that dimension (`method`, e.g. "nearest",
        applies to the numeric ones: time, quantile)."""
        by_param = {k: v for k, v in indexers.items() if k in self.params.variables and k != "scenario"}
        rest = {k: v for k, v in indexers.items() if k not in by_param}
        dims = set().union(*(ds.dims for ds in self.groups.values()))
        unknown = sorted(set(rest) - dims)
        if unknown:
            raise KeyError(f"{', '.join(unknown)}: neither a parameter nor a dimension of {self.path} "
                           f"(dimensions: {', '.join(sorted(dims))})")
        res = self.where_param(**by_param) if by_param else self
        groups = {}
        for name, ds in res.groups.items():
            ds = ds.sel({d: v for d, v in rest.items() if d in ds.dims and ds[d].dtype.kind in "biuf"},
                        method=method)
            groups[name] = ds.sel({d: v for d, v in rest.items() if d in ds.dims and ds[d].dtype.kind not in "biuf"})
        return Result(res.path, res.engine, res.attrs, groups, list(res.swept))

    # -- export ----------------------------------------------------------------------------
    def to_dataframe(self, group: str, metric: str, params: list | None = None) -> pd.DataFrame:
        """Long (tidy) table of one metric: columns scenario, the parameters (default: the
        swept ones), then time / lab / cloud / path where they apply, stat, value.

        Summary groups give one row per stat: 'mean', 'std', 'count' and 'q0.05' ... for the
        quantiles. A /paths group ('paths/labs') gives stat 'path' with a `path` column."""
        ds = self[group]
        params = list(self.swept if params is None else params)
        frames = []
        if group.startswith("paths/"):
            frames.append(self._frame(ds[metric], "path"))
        else:
            for stat in ("mean", "std", "count"):
                frames.append(self._frame(ds[f"{metric}_{stat}"], stat))
            q = ds[f"{metric}_quantile"]
            for level in q["quantile"].values:
                frames.append(self._frame(q.sel(quantile=level, drop=True), f"q{level:g}"))
        df = pd.concat(frames, ignore_index=True)
        for key in params:
            df[key] = self.param(key)[self._scenario_pos(df["scenario"].to_numpy())]
        dims = [d for d in ("time", "lab", "cloud", "path") if d in df.columns]
        return df[["scenario", *params, *dims, "stat", "value"]]

    def _scenario_pos(self, labels: np.ndarray) -> np.ndarray:
        """Positions in /params of scenario labels (the scenario coordinate's values)."""
        index = pd.Index(self.params["scenario"].values)
        return index.get_indexer(labels)

    def _frame(self, da: xr.DataArray, stat: str) -> pd.DataFrame:
        keep = [c for c in da.coords if c not in da.dims]
        df = da.reset_coords(keep, drop=True).to_dataframe(name="value").reset_index()
        df["value"] = df["value"].astype(float)
        df["stat"] = stat
        return df

    # -- lifetime --------------------------------------------------------------------------
    def close(self) -> None:
        for ds in self.groups.values():
            ds.close()

    def __enter__(self) -> "Result":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def load(path: str, engine: str | None = None) -> Result:
    """Open a moatsim result file. `engine` is 'h5netcdf' or 'netcdf4'; by default the first
    of them that opens the file without warnings.

    Every group becomes a Dataset ('market', 'labs', 'clouds', 'params', and 'paths/market',
    'paths/labs', 'paths/clouds' with --keep-paths); each swept parameter becomes a coordinate
    of the scenario dimension, named by its dotted key."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such result file (write one with `moatsim run SCENARIO -o {path}`)")
    names = _group_names(path)
    missing = [g for g in (*SUMMARY_GROUPS, "params") if g not in names]
    if missing:
        raise OSError(f"{path}: not a complete moatsim result file: group(s) /{', /'.join(missing)} "
                      "missing (an interrupted run? resume it with `moatsim run --resume`)")
    engine = engine or pick_engine(path)
    groups = {g: _open_group(path, g, engine) for g in names}
    done = groups["market"]["scenario_done"].values if "scenario_done" in groups["market"] else None
    if done is not None and not np.all(done == 1):
        warnings.warn(f"{path}: scenario(s) {', '.join(map(str, np.flatnonzero(done != 1)))} not written yet "
                      "(scenario_done = 0): their values read as NaN; finish the run with "
                      "`moatsim run --resume`", stacklevel=2)
    attrs = root_attrs(path, engine)
    params = groups["params"]
    swept = _as_list(params.attrs.get("swept_params"))
    if not swept:
        swept = [k for k, v in params.data_vars.items() if int(v.attrs.get("swept", 0)) == 1]
    coords = {k: ("scenario", params[k].values) for k in swept}
    if coords:
        groups = {g: (ds.set_coords(swept) if g == "params"
                      else ds.assign_coords(coords) if "scenario" in ds.dims else ds)
                  for g, ds in groups.items()}
    return Result(path, engine, attrs, groups, swept)
