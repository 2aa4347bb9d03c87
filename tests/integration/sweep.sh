#!/bin/sh
# sweep.sh — sweeps split into shards and merged: the merged file's datasets equal the unsharded
# run's (h5py, every dataset bit for bit), also when there are fewer scenarios than shards and the
# shards split the paths (a single scenario in 2 and 3 shards); the sweep design in /params in
# scenario order; shard records; bad designs, bad shard specs and bad merges (missing, repeated,
# overlapping or damaged parts) exit 2 with a clear message.
# Usage: MOATSIM=bin/moatsim PYTHON=/usr/bin/python3 sh tests/integration/sweep.sh   (repo root)

NAME=sweep
. tests/integration/sweep_lib.inc
RUN="$MOATSIM run $CFG --quiet --threads 1"

# ---- the unsharded reference, and shards merged -------------------------------------------
check "unsharded run" $RUN -o "$tmp/all.h5"
check "unsharded run, paths kept" $RUN --keep-paths -o "$tmp/all_paths.h5"
# validate's estimate of the results file bounds the file from above, and closely when nothing is
# compressed (the summaries; kept paths are deflated, so there it is a bound only).
for f in all all_paths; do
  keep=false
  [ $f = all_paths ] && keep=true
  est=$("$MOATSIM" validate $CFG --set output.keep_paths=$keep | sed -n 's/^results: *about \([0-9.]*\) MiB.*/\1/p')
  size=$(wc -c <"$tmp/$f.h5")
  low=$([ $f = all ] && echo 0.8 || echo 0)
  if awk -v e="$est" -v s="$size" -v l="$low" 'BEGIN { b = e * 1048576; exit !(e > 0 && s <= b && s >= l * b) }'; then
    ok
  else
    bad "file size estimate of $f.h5: $est MiB estimated, $size bytes written"
  fi
done
for n in 1 3 4 7; do # 7 > 6 scenarios: the shards split the 6 x 8 paths, 6 or 7 each
  parts=""
  i=0
  while [ $i -lt $n ]; do
    check "shard $i/$n" $RUN --shard $i/$n -o "$tmp/part-$i-of-$n.h5"
    parts="$parts $tmp/part-$i-of-$n.h5"
    i=$((i + 1))
  done
  # parts in reverse order: merge sorts them itself
  rev=$(printf '%s\n' $parts | sort -r | tr '\n' ' ')
  check "merge $n shards" "$MOATSIM" merge $rev -o "$tmp/merged-$n.h5"
  check "merged $n shards equal the unsharded run" "$PYTHON" $COMPARE "$tmp/all.h5" "$tmp/merged-$n.h5"
done
for i in 0 1; do check "kept paths shard $i/2" $RUN --keep-paths --shard $i/2 -o "$tmp/pp-$i.h5"; done
check "merge with paths" "$MOATSIM" merge "$tmp/pp-0.h5" "$tmp/pp-1.h5" -o "$tmp/pp.h5"
check "merged paths equal" "$PYTHON" $COMPARE "$tmp/all_paths.h5" "$tmp/pp.h5"

# ---- one scenario split by paths into shards ----------------------------------------------------
# Shard I of N holds paths floor(24 I / N) .. floor(24 (I + 1) / N) - 1 of tests/data/one.cfg;
# the merge summarizes them; equal to one process, whatever the threads of each part.
ONE="$MOATSIM run tests/data/one.cfg --quiet"
check "one scenario, one process" $ONE --threads 1 --keep-paths -o "$tmp/one.h5"
for n in 2 3; do
  parts=""
  i=0
  while [ $i -lt $n ]; do
    check "one scenario, shard $i/$n" $ONE --threads $((i % 2 + 1)) --keep-paths --shard $i/$n -o "$tmp/one-$i-of-$n.h5"
    parts="$tmp/one-$i-of-$n.h5 $parts"
    i=$((i + 1))
  done
  check "merge one scenario's $n shards" "$MOATSIM" merge $parts -o "$tmp/one-merged-$n.h5"
  check "one scenario's $n shards merged equal one process" "$PYTHON" $COMPARE "$tmp/one.h5" "$tmp/one-merged-$n.h5"
done
check "shard split by paths records its part" "$PYTHON" - "$tmp/one-1-of-3.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    assert f.attrs["shard_split"] == b"paths" or f.attrs["shard_split"] == "paths", dict(f.attrs)
    d = f["shard_paths/s0"]
    assert d.attrs["first_path"] == 8 and d.shape[0] == 8 and d.attrs["scenario_paths"] == 24, dict(d.attrs)
    assert list(f["shard_paths"]) == ["quantile_levels", "s0"]
PY
expect "missing path shard" 2 "shard 1/3 is missing" "$MOATSIM" merge "$tmp/one-0-of-3.h5" "$tmp/one-2-of-3.h5" -o "$tmp/x.h5"
# Parts whose paths overlap or leave a gap (a part's first_path moved): refused, naming the paths.
cp "$tmp/one-1-of-3.h5" "$tmp/over.h5"
cp "$tmp/one-1-of-3.h5" "$tmp/gap.h5"
"$PYTHON" - "$tmp/over.h5" "$tmp/gap.h5" <<'PY' || bad "moving first_path"
import sys, h5py
for name, first in zip(sys.argv[1:], (6, 9)):
    with h5py.File(name, "r+") as f:
        f["shard_paths/s0"].attrs["first_path"] = first
PY
expect "overlapping path shards" 2 "paths 6-7 of scenario 0 are in both" "$MOATSIM" merge "$tmp/one-0-of-3.h5" "$tmp/over.h5" "$tmp/one-2-of-3.h5" -o "$tmp/x.h5"
expect "path shards with a gap" 2 "paths 8-8 of scenario 0 are in none of the parts" "$MOATSIM" merge "$tmp/one-0-of-3.h5" "$tmp/gap.h5" "$tmp/one-2-of-3.h5" -o "$tmp/x.h5"
[ -e "$tmp/x.h5" ] && bad "a refused merge left its output" || ok

# What a shard file records, and the design in /params (scenario k: axis 1 = values[k / 2],
# axis 2 = values[k % 2], the last axis fastest; written out by hand from the grid).
check "shard records and /params design" "$PYTHON" - "$tmp/part-1-of-3.h5" "$tmp/merged-3.h5" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    assert f.attrs["shard_index"] == 1 and f.attrs["shard_count"] == 3, dict(f.attrs)
    done = f["market/scenario_done"][()]
    assert list(done) == [0, 1, 0, 0, 1, 0], done          # k mod 3 == 1: scenarios 1 and 4
    assert np.isnan(f["market/compute_spend_mean"][0]).all()  # not this shard's: fill value
with h5py.File(sys.argv[2], "r") as f:
    assert "shard_index" not in f.attrs and "merged_from" in f.attrs
    assert list(f["market/scenario_done"][()]) == [1] * 6
    p = f["params"]
    assert p.attrs["swept_params"].decode().split() == ["quality_gap.long_run",
                                                        "price_compression.cost_decline_per_year"]
    np.testing.assert_array_equal(p["quality_gap_long_run"][()], [0.01, 0.01, 0.03, 0.03, 0.06, 0.06])
    np.testing.assert_array_equal(p["price_compression_cost_decline_per_year"][()], [0.2, 0.6] * 3)
    assert p["quality_gap_long_run"].attrs["swept"] == 1
    np.testing.assert_array_equal(p["scenario"][()], np.arange(6))
PY

# ---- bad merges: exit 2, clear message, no output -------------------------------------------
M="$MOATSIM merge"
P3="$tmp/part-0-of-3.h5 $tmp/part-1-of-3.h5 $tmp/part-2-of-3.h5"
expect "missing shard" 2 "shard 1/3 is missing" $M "$tmp/part-0-of-3.h5" "$tmp/part-2-of-3.h5" -o "$tmp/x.h5"
expect "repeated shard" 2 "shard 2/3 is given twice" $M $P3 "$tmp/part-2-of-3.h5" -o "$tmp/x.h5"
expect "mixed splits" 2 "different splits of the sweep" $M "$tmp/part-0-of-3.h5" "$tmp/part-1-of-4.h5" -o "$tmp/x.h5"
check "shard of another seed" $RUN --seed 7 --shard 1/3 -o "$tmp/seed7.h5"
expect "different seed" 2 "has seed 7" $M "$tmp/part-0-of-3.h5" "$tmp/seed7.h5" "$tmp/part-2-of-3.h5" -o "$tmp/x.h5"
check "shard of another text" $RUN --set quality_gap.volatility=0.3 --shard 1/3 -o "$tmp/text.h5"
expect "different scenario text" 2 "different scenario texts" $M "$tmp/part-0-of-3.h5" "$tmp/text.h5" "$tmp/part-2-of-3.h5" -o "$tmp/x.h5"
check "shard 0 of 2" $RUN --shard 0/2 -o "$tmp/part-0-of-2.h5"
expect "paths kept in one part only" 2 "different scenario texts" $M "$tmp/part-0-of-2.h5" "$tmp/pp-1.h5" -o "$tmp/x.h5"
cp "$tmp/part-1-of-3.h5" "$tmp/oldbuild.h5" # another build: its git revision rewritten by hand
"$PYTHON" -c "import h5py, numpy, sys; h5py.File(sys.argv[1], 'r+').attrs['git_revision'] = numpy.bytes_('0123456789ab')" \
  "$tmp/oldbuild.h5"
expect "different build" 2 "git 0123456789ab" $M "$tmp/part-0-of-3.h5" "$tmp/oldbuild.h5" "$tmp/part-2-of-3.h5" -o "$tmp/x.h5"
# damaged parts (tests/integration/damage_h5.py inverts stored bytes): a results chunk (Fletcher-32),
# a /params value and a coordinate (compact: inside their checksummed object headers)
for d in market/compute_spend_mean:"data error detected by Fletcher32 checksum" params/quality_gap_long_run:"incorrect metadata checksum" \
  labs/time:"incorrect metadata checksum"; do
  ds=${d%%:*}
  f="$tmp/damaged-$(echo "$ds" | tr / -).h5"
  cp "$tmp/part-1-of-3.h5" "$f"
  "$PYTHON" tests/integration/damage_h5.py "$f" "$ds" 8 >/dev/null || bad "damage_h5.py $f $ds"
  expect "damaged $ds" 2 "'$f' is damaged: $([ "$ds" = market/compute_spend_mean ] && echo dataset || echo object) '$ds': ${d#*:}" \
    $M "$tmp/part-0-of-3.h5" "$f" "$tmp/part-2-of-3.h5" -o "$tmp/x.h5"
done
# ... and a character of a lab name and of a text parameter in HDF5's global heap (no checksum of
# HDF5's: the file's strings_digest names the dataset)
for ds in labs/lab params/enterprises_sampling; do
  f="$tmp/damaged-$(echo "$ds" | tr / -).h5"
  cp "$tmp/part-1-of-3.h5" "$f"
  "$PYTHON" tests/integration/damage_h5.py "$f" "$ds" 2 >/dev/null || bad "damage_h5.py $f $ds"
  expect "damaged $ds" 2 "'$f' is damaged: dataset '$ds': its variable-length strings do not match the file's strings_digest" \
    $M "$tmp/part-0-of-3.h5" "$f" "$tmp/part-2-of-3.h5" -o "$tmp/x.h5"
done
echo "not hdf5" >"$tmp/text.txt"
expect "not an HDF5 file" 2 "is not an HDF5 file" $M "$tmp/part-0-of-3.h5" "$tmp/text.txt" -o "$tmp/x.h5"
"$PYTHON" -c "import h5py, sys; h5py.File(sys.argv[1], 'w')['x'] = [1]" "$tmp/foreign.h5"
expect "HDF5 but not moatsim" 2 "is not a moatsim results file" $M "$tmp/foreign.h5" -o "$tmp/x.h5"
expect "missing part file" 2 "cannot open" $M "$tmp/part-0-of-3.h5" "$tmp/nope.h5" -o "$tmp/x.h5"
expect "output exists" 2 "exists: pass --force" $M $P3 -o "$tmp/merged-3.h5"
check "output replaced with --force" $M $P3 -o "$tmp/merged-3.h5" --force
expect "no output" 2 "give -o" $M $P3
if [ -e "$tmp/x.h5" ] || [ -e "$tmp/x.h5.partial" ]; then bad "a bad merge left a file"; else ok; fi

# ---- bad shard specs -------------------------------------------------------------------------
for spec in 0/0 5/3 3/3 -1/2 abc 1/ /2 1/2/3; do
  expect "shard spec $spec" 2 "--shard $spec: expected I/N with 0 <= I < N" $RUN --shard $spec -o "$tmp/y.h5"
done

# ---- bad designs (each with file:line, the key and the rule) ---------------------------------
design() { # design NAME NEEDLE SWEEP-SECTION
  sed '/^sweep = {/,$d' $CFG >"$tmp/bad.cfg"
  printf '%s\n' "$3" >>"$tmp/bad.cfg"
  expect "$1" 2 "$2" $RUN -o "$tmp/y.h5" --force
  grep -qF "$tmp/bad.cfg:" "$tmp/err" || bad "$1: no file:line in the message"
}
RUN="$MOATSIM run $tmp/bad.cfg --quiet --threads 1"
design "axis on a missing key" "did you mean \`quality_gap.long_run\`?" \
  'sweep = { method = "grid"; axes = ( { param = "quality_gap.long_rn"; values = [0.1]; } ); };'
design "axis on a text key" "output.file" \
  'sweep = { method = "grid"; axes = ( { param = "output.file"; values = [1.0]; } ); };'
design "value outside the range" "quality_gap.long_run = 2 is outside" \
  'sweep = { method = "list"; axes = ( { param = "quality_gap.long_run"; values = [0.1, 2.0]; } ); };'
design "min >= max" "min = 0.5 is not below max = 0.5" \
  'sweep = { method = "lhs"; samples = 4; axes = ( { param = "quality_gap.volatility"; min = 0.5; max = 0.5; } ); };'
design "zero samples" "sweep.samples = 0 is outside" \
  'sweep = { method = "sobol"; samples = 0; axes = ( { param = "quality_gap.volatility"; min = 0.1; max = 0.5; } ); };'
design "list axes of different lengths" "has 3 values but axis 1 has 2" \
  'sweep = { method = "list"; axes = ( { param = "quality_gap.volatility"; values = [0.1, 0.2]; },
  { param = "quality_gap.long_run"; values = [0.01, 0.02, 0.03]; } ); };'
axes=$(i=0; while [ $i -lt 41 ]; do [ $i -gt 0 ] && printf ','; printf '{ param = "quality_gap.volatility"; min = 0.1; max = 0.5; }'; i=$((i + 1)); done)
design "41 Sobol dimensions" "supports at most 40 dimensions" \
  "sweep = { method = \"sobol\"; samples = 4; axes = ( $axes ); };"

finish
