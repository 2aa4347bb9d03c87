#!/usr/bin/python3
"""Enterprise sampling study: cross-path standard error, mean and CPU per path of the headline
outputs for each (enterprises.sampling, enterprises.count), against a large reference.

Usage (from the repository root, after `make`; takes ~15 CPU-minutes with the defaults):
    nice /usr/bin/python3 tests/bench/sampling_study.py [--paths 400] [--ref-paths 200]
        [--ref-count 16000] [--workers 2] [--scenario scenarios/baseline.cfg] [--moatsim BIN]
        [--json FILE] [--cache DIR]

Every run is `moatsim run SCENARIO --threads 1 --keep-paths` with the scenario's seed, so path p
of every run sees the same releases, gap and price wars (MODEL.md §9: the enterprise streams are
separate): the difference of two runs' means is then measured path by path (paired), which
takes the shared path noise out of the bias check. CPU per path is the child's user + system
time (os.wait4) over its paths, HDF5 writing included; runs go `--workers` at a time.

Prints a Markdown section (the one in docs/performance.md, "Enterprise sampling"):
- per configuration: N, scheme, CPU per path, and over the headline outputs the ratio of its
  standard error to today's (weighted, N = 1000): median and largest;
- per headline output: today's and each candidate's standard error, and the candidate's mean
  minus the reference's with the paired standard error of that difference.
Standard error = cross-path standard deviation / sqrt(P), P = --paths; the bias check uses the
first --ref-paths paths of each run (those the reference has).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
MOATSIM = ROOT / "bin" / "moatsim"
TODAY = ("weighted", 1000)
CANDIDATES = [("weighted", 250), ("size_biased", 160), ("size_biased", 250),
              ("stratified", 100), ("stratified", 160), ("stratified", 200),
              ("stratified", 250)]
YEARS = (1, 5, 10)  # step 12 y, the last step (t = 9 11/12 y) standing for 10 y
MARKET = ("share_closed", "revenue_share_closed", "premium_flagship")
LAB = ("revenue", "rerating")
DETAIL = [("stratified", 160), ("size_biased", 160)]  # per-output columns besides today's


def run(scenario, scheme, count, paths, workdir, cache):
    """One moatsim run; returns (per-path headline outputs {name: array[P]}, CPU s per path).
    With `cache`, the figures are kept in cache/SCHEME-N-P.json and reused when present."""
    kept = Path(cache) / f"{scheme}-{count}-{paths}.json" if cache else None
    if kept and kept.exists():
        got = json.loads(kept.read_text())
        return {k: np.array(v) for k, v in got["outputs"].items()}, got["cpu"]
    out = Path(workdir) / f"{scheme}-{count}.h5"
    cmd = [str(MOATSIM), "run", str(scenario), "-o", str(out), "--force", "--quiet",
           "--threads", "1", "--paths", str(paths), "--keep-paths",
           "--set", f"enterprises.sampling={scheme}", "--set", f"enterprises.count={count}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)}: exit {proc.returncode}")
    cpu = (usage.ru_utime + usage.ru_stime) / paths
    outputs = headline(out)
    print(f"{scheme} N = {count}: {paths} paths, {cpu:.4f} CPU s a path", file=sys.stderr)
    if kept:
        kept.write_text(json.dumps({"cpu": cpu, "outputs": {k: v.tolist() for k, v in outputs.items()}}))
    return outputs, cpu


def headline(path):
    """The headline outputs per path: market shares and premium, each closed lab's revenue and
    re-rating, at 1, 5 and 10 years."""
    with h5py.File(path, "r") as f:
        n_steps = f["paths/market/time"].shape[0]
        steps = {y: min(12 * y, n_steps - 1) for y in YEARS}
        labs = [x.decode() for x in f["paths/labs/lab"][()]]
        closed = [i for i, name in enumerate(labs)
                  if f[f"params/labs_{name.replace('-', '_')}_kind"][()] == b'"closed"']
        res = {}
        for y, n in steps.items():
            for m in MARKET:
                res[f"{m} {y}y"] = f[f"paths/market/{m}"][0, :, n]
            for m in LAB:
                for i in closed:
                    res[f"{labs[i]} {m} {y}y"] = f[f"paths/labs/{m}"][0, :, i, n]
        os.unlink(path)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default=ROOT / "scenarios" / "baseline.cfg")
    ap.add_argument("--paths", type=int, default=400)
    ap.add_argument("--ref-paths", type=int, default=200)
    ap.add_argument("--ref-count", type=int, default=16000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--moatsim", default=ROOT / "bin" / "moatsim", help="the binary to measure")
    ap.add_argument("--json", help="also write the summary figures here")
    ap.add_argument("--cache", help="keep each run's per-path figures in this directory and reuse them")
    args = ap.parse_args()
    global MOATSIM
    MOATSIM = Path(args.moatsim).resolve()
    if args.cache:
        Path(args.cache).mkdir(parents=True, exist_ok=True)

    configs = [("weighted", args.ref_count, args.ref_paths), (*TODAY, args.paths)] + \
        [(s, n, args.paths) for s, n in CANDIDATES]
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.workers) as pool:
        futures = {(s, n): pool.submit(run, args.scenario, s, n, p, tmp, args.cache) for s, n, p in configs}
        results = {k: f.result() for k, f in futures.items()}
    ref_key = ("weighted", args.ref_count)
    ref, ref_cpu = results[ref_key]
    names = list(ref)
    m = len(ref[names[0]])  # the reference's paths (fewer than --ref-paths if read from a cut run)

    def stats(key):
        vals, cpu = results[key]
        se = {k: float(np.std(v, ddof=1) / np.sqrt(len(v))) for k, v in vals.items()}
        mean = {k: float(np.mean(v)) for k, v in vals.items()}
        diff = {k: vals[k][:m] - ref[k] for k in names}
        bias = {k: float(np.mean(d)) for k, d in diff.items()}
        bias_se = {k: float(np.std(d, ddof=1) / np.sqrt(m)) for k, d in diff.items()}
        return {"cpu": cpu, "se": se, "mean": mean, "bias": bias, "bias_se": bias_se}

    table = {f"{s} {n}": stats((s, n)) for s, n in [TODAY] + CANDIDATES}
    table["reference"] = {"cpu": ref_cpu, "paths": m, "mean": {k: float(np.mean(v)) for k, v in ref.items()},
                          "se": {k: float(np.std(v, ddof=1) / np.sqrt(m)) for k, v in ref.items()}}
    if args.json:
        Path(args.json).write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                               "names": names, "table": table}, indent=1))
    report(table, names, args)


def report(table, names, args):
    today = table[f"{TODAY[0]} {TODAY[1]}"]
    m = table["reference"]["paths"]
    print(f"{len(names)} headline outputs, {args.paths} paths a configuration "
          f"(reference: weighted, N = {args.ref_count}, {m} paths, "
          f"{table['reference']['cpu']:.2f} CPU s a path).\n")
    print("| scheme | N | CPU s / path | today's CPU / this | SE / today's SE: median | largest (output) "
          "| outputs with \\|mean − ref\\| > SE |")
    print("|---|---:|---:|---:|---:|---|---:|")
    for key, st in table.items():
        if key == "reference":
            continue
        ratio = {k: st["se"][k] / today["se"][k] for k in names if today["se"][k] > 0}
        worst = max(ratio, key=ratio.get)
        off = sum(abs(st["bias"][k]) > st["se"][k] for k in names)
        scheme, n = key.split()
        print(f"| {scheme} | {n} | {st['cpu']:.4f} | {today['cpu'] / st['cpu']:.1f} | "
              f"{np.median(list(ratio.values())):.2f} | {ratio[worst]:.2f} ({worst}) | {off} of {len(names)} |")
    best = [f"{TODAY[0]} {TODAY[1]}"] + [f"{s} {n}" for s, n in DETAIL]
    print("\nPer output: standard error (SE) of the mean over the paths; the mean minus the "
          "reference's, ± the paired SE of that difference.\n")
    head = "| output | reference mean | " + " | ".join(f"{k}: SE | mean − ref" for k in best) + " |"
    print(head)
    print("|---|---:|" + "---:|---:|" * len(best))
    for k in names:
        row = f"| {k} | {table['reference']['mean'][k]:.4g} | "
        row += " | ".join(f"{table[b]['se'][k]:.3g} | {table[b]['bias'][k]:+.3g} ± {table[b]['bias_se'][k]:.2g}"
                          for b in best)
        print(row + " |")


if __name__ == "__main__":
    main()
