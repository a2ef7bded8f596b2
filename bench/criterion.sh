#!/usr/bin/env bash
# Runs the criterion micro-benchmarks and prints each benchmark's median.
#   weft-route `routing`: spf_latency/50, spf_latency/500, widest/500, k_disjoint/500, csr_build/500
#   weft-path  `path`:    estimator_update, select/8, select/64
#   weft-policy `policy`: classify/100, classify/1000, compile/1000, parse/1000,
#                         classifier/100, classifier/1000, classifier_build/1000
# Targets on a 2-core machine: spf_latency/500 < 100 µs, select/8 < 100 ns,
# estimator_update < 100 ns, classify/1000 < 100 ns.
#
# Usage: bench/criterion.sh            (release build: `cargo bench`; no root needed)
#        SMOKE=1 bench/criterion.sh    every benchmark once through the same parsing, quick:
#                                      the debug build of the bench targets (`cargo test
#                                      --workspace --all-features --bench ...`, what `make test`
#                                      has built) in criterion's bench mode with 10 samples of
#                                      ~0.05 s; its figures are unoptimised, only a check
# Env:   MEASURE=3 (seconds per benchmark)
# Last line: criterion benches=N NAME_ns=MEDIAN ... (one per benchmark, '/' in names as '_')
set -euo pipefail
BENCH=criterion
. "$(dirname "$0")/lib.sh"

MEASURE=${MEASURE:-3}
bench_need cargo
bench_work
OUT=$WORK/all.out

BENCHES=("weft-route routing" "weft-path path" "weft-policy policy")

# run NAME CARGO ARGS... : runs one cargo command, keeps stdout in $OUT, fails loudly
run() {
  local name=$1; shift
  if ! "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"; then
    tail -n 40 "$WORK/$name.err" >&2
    die "$* failed"
  fi
  cat "$WORK/$name.out" >>"$OUT"
  grep -E '^\S+ +time:|^\S+$' "$WORK/$name.out" || true
}

: >"$OUT"
if [ "$SMOKE" = 1 ]; then
  # criterion keeps its data (the baseline of the next run) out of target/criterion
  export CRITERION_HOME=$WORK/criterion
  args=()
  for b in "${BENCHES[@]}"; do args+=(--bench "${b#* }"); done
  run smoke cargo test --locked -q --workspace --all-features "${args[@]}" -- \
    --bench --warm-up-time 0.01 --measurement-time 0.05 --sample-size 10 --noplot
else
  for b in "${BENCHES[@]}"; do
    run "${b#* }" cargo bench --locked -q -p "${b% *}" --bench "${b#* }" -- \
      --warm-up-time 1 --measurement-time "$MEASURE"
  done
fi

echo
echo "== medians (criterion's middle estimate)$([ "$SMOKE" = 1 ] && echo ", smoke: debug build, not figures")"
# Criterion prints "name  time: [low mid high]", sometimes with the name on its own line.
awk '
  /time:/ {
    name = ($1 == "time:") ? prev : $1
    sub(/.*time: *\[/, ""); split($0, v, " ")
    printf "%-20s %s %s\n", name, v[3], v[4]
  }
  { if ($1 != "time:" && NF == 1) prev = $1 }
' "$OUT" >"$WORK/medians"
cat "$WORK/medians"
[ -s "$WORK/medians" ] || die "no criterion median parsed from the output (kept in $WORK)"
# NAME VALUE UNIT -> NAME_ns=VALUE_IN_NS
mapfile -t figures < <(awk '{
  f = ($3 == "ps") ? 0.001 : ($3 == "ns") ? 1 : ($3 == "µs" || $3 == "us") ? 1e3 : ($3 == "ms") ? 1e6 : ($3 == "s") ? 1e9 : -1
  name = $1; gsub(/[^A-Za-z0-9_.-]/, "_", name)
  if (f < 0) printf "%s_ns=unit:%s\n", name, $3
  else if ($2 * f >= 100) printf "%s_ns=%.0f\n", name, $2 * f
  else printf "%s_ns=%.3g\n", name, $2 * f
}' "$WORK/medians")
bench_result criterion "benches=${#figures[@]}" "${figures[@]}"
