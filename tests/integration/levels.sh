#!/bin/sh
# levels.sh — the pricing kernel gives the same bits on every x86-64 level. The release build
# carries three clones of the pass over the rows (x86-64-v4 with AVX-512, v3 with AVX2 and FMA,
# the baseline "default") and the processor picks one at load time, so two nodes of a cluster may
# run different code. `make LEVEL=N` builds one clone alone (build/release-levelN/moatsim); this
# runs a small sweep (plain logit at host_similarity 0, the nested logit at 0.5) with each level
# the processor can execute and with the release build, and compares the files bit for bit
# (compare_h5.py). A level the processor lacks is reported as skipped.
# Environment: MOATSIM (the release binary), LEVELS (default "1 3 4"), LEVEL_BIN (default
# build/release-level%s/moatsim, %s the level), PYTHON (with h5py). Run from the repository root.
# Last line: "N passed, N failed"; exit status 1 when anything failed.
set -u
NAME=levels
. tests/integration/sweep_lib.inc
LEVELS=${LEVELS:-"1 3 4"}
LEVEL_BIN=${LEVEL_BIN:-build/release-level%s/moatsim}

# The processor's x86-64 level from its flags (the features GCC's levels require).
FLAGS=" $(sed -n 's/^flags[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1) "
has() { # has FLAG...: every flag is in FLAGS
  for f in "$@"; do case $FLAGS in *" $f "*) ;; *) return 1 ;; esac; done
}
runs_level() { # runs_level N: 0 when this processor executes x86-64 level N code
  case $1 in
    1) return 0 ;;
    3) has avx avx2 bmi1 bmi2 f16c fma abm movbe xsave ;;
    4) has avx avx2 bmi1 bmi2 f16c fma abm movbe xsave avx512f avx512bw avx512cd avx512dq avx512vl ;;
    *) return 1 ;;
  esac
}

cp scenarios/baseline.cfg "$tmp/levels.cfg"
cat >>"$tmp/levels.cfg" <<'EOF'
sweep = { method = "grid";
          axes = ( { param = "enterprises.host_similarity"; values = [0.0, 0.5]; } ); };
EOF
SMALL="--paths 6 --set enterprises.count=100 --set horizon_years=2 --quiet --keep-paths --threads 2"

# shellcheck disable=SC2086
check "release build (its clones chosen by the processor)" \
  "$MOATSIM" run "$tmp/levels.cfg" -o "$tmp/release.h5" $SMALL
for n in $LEVELS; do
  # shellcheck disable=SC2059
  bin=$(printf "$LEVEL_BIN" "$n")
  if ! runs_level "$n"; then
    echo "skip level $n: this processor lacks its instructions"
    continue
  fi
  if [ ! -x "$bin" ]; then
    bad "level $n: $bin is not built (make LEVEL=$n)"
    continue
  fi
  # shellcheck disable=SC2086
  check "level $n build runs" "$bin" run "$tmp/levels.cfg" -o "$tmp/level$n.h5" $SMALL &&
    check "level $n: every dataset bitwise the release build's (plain and nested logit)" \
      "$PYTHON" "$COMPARE" "$tmp/release.h5" "$tmp/level$n.h5"
done

# The level builds really run different code: the passes over the rows use 512-bit registers at
# level 4, 256-bit ones and no 512-bit at level 3, neither at level 1 (objdump, when present).
if command -v objdump >/dev/null 2>&1; then
  for n in $LEVELS; do
    # shellcheck disable=SC2059
    bin=$(printf "$LEVEL_BIN" "$n")
    [ -x "$bin" ] || continue
    # every function of the pass: market_pass_nested, moat_pricing_market_pass and the parts
    # GCC splits off them (.part.0, ...)
    objdump -d --no-show-raw-insn "$bin" |
      awk '/^[0-9a-f]+ <.*market_pass.*>:$/ { on = 1; next } /^[0-9a-f]+ <.*>:$/ { on = 0 } on' \
        >"$tmp/pass.s"
    zmm=$(grep -c '%zmm' "$tmp/pass.s"); ymm=$(grep -c '%ymm' "$tmp/pass.s")
    case $n in
      4) want=$([ "$zmm" -gt 0 ] && echo yes) ;;
      3) want=$([ "$zmm" -eq 0 ] && [ "$ymm" -gt 0 ] && echo yes) ;;
      *) want=$([ "$zmm" -eq 0 ] && [ "$ymm" -eq 0 ] && echo yes) ;;
    esac
    if [ "$want" = yes ]; then
      ok
      echo "level $n build: the pass has $zmm zmm and $ymm ymm operands, as level $n"
    else
      bad "level $n build: the pass has $zmm zmm and $ymm ymm operands"
    fi
  done
fi

finish
