"""Compare two moatsim results files dataset by dataset with h5py: the same datasets, shapes,
types and bits (NaN equal to NaN), the same dataset attributes, and the same root attributes
except the provenance of the particular run (command line, start and wall time, threads, shard
and merge records). Usage: compare_h5.py A.h5 B.h5; exit 0 when equal, 1 with the differences."""
import sys

import h5py
import numpy as np

RUN_ATTRS = {"command_line", "scenario_file", "start_time", "wall_time_s", "threads", "merged_from", "shard_index",
             "shard_count", "shard_scenarios", "history"}  # history: the start time and command line
REF_ATTRS = {"DIMENSION_LIST", "REFERENCE_LIST"}  # object references: addresses, not content


def same_array(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind in "fc":  # bitwise: NaN equals NaN, -0.0 differs from 0.0
        return a.tobytes() == b.tobytes()
    return bool(np.all(a == b))


def attrs(obj, skip):
    return {k: obj.attrs[k] for k in obj.attrs if k not in skip}


def collect(f):
    out = {}
    f.visititems(lambda name, obj: out.__setitem__(name, obj) if isinstance(obj, h5py.Dataset) else None)
    return out


def main(path_a, path_b):
    problems = []
    with h5py.File(path_a, "r") as fa, h5py.File(path_b, "r") as fb:
        ra, rb = attrs(fa, RUN_ATTRS), attrs(fb, RUN_ATTRS)
        for k in sorted(set(ra) | set(rb)):
            if k not in ra or k not in rb or not same_array(ra[k], rb[k]):
                problems.append(f"root attribute {k}")
        da, db = collect(fa), collect(fb)
        for name in sorted(set(da) ^ set(db)):
            problems.append(f"dataset {name} only in {'A' if name in da else 'B'}")
        for name in sorted(set(da) & set(db)):
            a, b = da[name], db[name]
            if not same_array(a[()], b[()]):
                problems.append(f"dataset {name}: values differ")
            xa, xb = attrs(a, REF_ATTRS), attrs(b, REF_ATTRS)
            for k in sorted(set(xa) | set(xb)):
                if k not in xa or k not in xb or not same_array(xa[k], xb[k]):
                    problems.append(f"dataset {name}: attribute {k}")
        n = len(set(da) & set(db))
    for p in problems[:20]:
        print(f"{path_a} vs {path_b}: {p}")
    if problems:
        print(f"{len(problems)} differences")
        return 1
    print(f"{path_a} and {path_b}: {n} datasets equal")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
