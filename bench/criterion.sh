#!/usr/bin/env bash
# Runs the criterion micro-benchmarks and prints each benchmark's median.
#   weft-route `routing`: spf_latency/50, spf_latency/500, widest/500, k_disjoint/500
#   weft-path  `path`:    estimator_update, select/8, select/64
#   weft-policy `policy`: classify/100, classify/1000, compile/1000, parse/1000,
#                         classifier/100, classifier/1000, classifier_build/1000
# Targets on a 2-core machine: spf_latency/500 < 100 µs, select/8 < 100 ns,
# estimator_update < 100 ns, classify/1000 < 100 ns.
#
# Usage: bench/criterion.sh            Env: MEASURE=3 (seconds per benchmark)
set -euo pipefail
cd "$(dirname "$0")/.."
MEASURE=${MEASURE:-3}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
run() {
  cargo bench --locked -q -p "$1" --bench "$2" -- --warm-up-time 1 --measurement-time "$MEASURE" 2>/dev/null | tee -a "$out" | grep -E '^\S+ +time:|^\S+$' || true
}
run weft-route routing
run weft-path path
run weft-policy policy
echo
echo "== medians (criterion's middle estimate)"
# Criterion prints "name  time: [low mid high]", sometimes with the name on its own line.
awk '
  /time:/ {
    name = ($1 == "time:") ? prev : $1
    sub(/.*time: *\[/, ""); split($0, v, " ")
    printf "%-20s %s %s\n", name, v[3], v[4]
  }
  { if ($1 != "time:" && NF == 1) prev = $1 }
' "$out"
