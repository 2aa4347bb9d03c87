#!/bin/sh
# layers.sh — the layers of sim/ may include only the layers below them (docs/architecture.md):
#   model    one path of the market model: no threads, files or command line
#   input    scenario files, the parameter table, sweep designs          (model)
#   run      paths across threads, ranks and signals; summaries         (model)
#   analysis sensitivity indices and PRIM over a sweep's results         (model, input)
#   output   HDF5 files, checkpoints, merge, export                      (model, input, run)
#   cli      the commands                                                 (everything)
# A header include/moatsim/X.h belongs to the layer of sim/<layer>/X.c (or X_*.c); header-only ones are
# listed below. Exit 1 naming every include that crosses a layer upwards.
# Usage: sh tests/layers.sh [ROOT]   (ROOT: the source tree, default the one holding this script)
#        sh tests/layers.sh --self-test   (a copy of the tree with one bad include must fail)
here=$(cd "$(dirname "$0")/.." && pwd)
if [ "$1" = --self-test ]; then
  t=$(mktemp -d) || exit 2
  trap 'rm -rf "$t"' EXIT
  cp -r "$here/sim" "$here/include" "$t/"
  sed -i '1a #include "moatsim/runner.h"' "$t/sim/model/path.c"
  out=$(sh "$here/tests/layers.sh" "$t") && { echo "layers.sh --self-test: a model file including runner.h passed"; exit 1; }
  echo "$out" | grep -q 'sim/model/path.c:2: the model layer includes moatsim/runner.h from the run layer' ||
    { echo "layers.sh --self-test: unexpected message: $out"; exit 1; }
  echo "layers.sh --self-test: a model file including runner.h is refused"
  exit 0
fi
cd "${1:-$here}" || exit 2

allowed() {
  case $1 in
    model) echo "model" ;;
    input) echo "model input" ;;
    run) echo "model run" ;;
    analysis) echo "model input analysis" ;;
    output) echo "model input run output" ;;
    cli) echo "model input run analysis output cli" ;;
    *) echo "" ;;
  esac
}

# The layer of a header, by the source file that implements it.
header_layer() {
  case $1 in
    scenario | model | fastexp) echo model; return ;;
  esac
  for f in sim/*/"$1".c sim/*/"$1"_*.c; do
    [ -f "$f" ] && { basename "$(dirname "$f")"; return; }
  done
  echo unknown
}

status=0
for dir in sim/*/; do
  layer=$(basename "$dir")
  ok=$(allowed "$layer")
  if [ -z "$ok" ]; then
    echo "layers.sh: sim/$layer/ is not a known layer (add it to tests/layers.sh and docs/architecture.md)"
    status=1
    continue
  fi
  for src in "$dir"*.c "$dir"*.h; do
    [ -f "$src" ] || continue
    grep -n '^#include "moatsim/' "$src" | while IFS= read -r line; do
      n=${line%%:*}
      h=$(echo "$line" | sed 's/.*"moatsim\/\(.*\)\.h".*/\1/')
      hl=$(header_layer "$h")
      case " $ok " in
        *" $hl "*) ;;
        *) echo "$src:$n: the $layer layer includes moatsim/$h.h from the $hl layer (allowed: $ok)" ;;
      esac
    done
  done
done > /tmp/layers.$$
if [ -s /tmp/layers.$$ ]; then cat /tmp/layers.$$; status=1; fi
rm -f /tmp/layers.$$
# Every public header must belong to a layer.
for h in include/moatsim/*.h; do
  b=$(basename "$h" .h)
  [ "$(header_layer "$b")" = unknown ] && { echo "layers.sh: $h has no source under sim/<layer>/"; status=1; }
done
[ $status -eq 0 ] && echo "layers.sh: every include follows the layers"
exit $status
