#!/usr/bin/env bash
# Keeps every fuzz target built and working, cheaply, for `make test`: builds
# fuzz/ as plain debug binaries (no sanitizer coverage, stable toolchain, about
# 3 min on 2 cores) and runs each on RUNS inputs (libFuzzer's random
# mutations of an empty seed, fixed seed so a failure replays). A target that
# panics or fails to build fails the check. The coverage-guided runs are
# scripts/fuzz.sh (`make fuzz-smoke`), which needs the instrumented build.
#
# Usage: scripts/fuzz-check.sh   Env: RUNS=2000 CARGO_TARGET_DIR=target
# Last line: fuzz-check ok|FAILED targets=N runs_each=R
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-2000}
out="${CARGO_TARGET_DIR:-$PWD/target}/fuzz-plain"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
(cd fuzz && CARGO_TARGET_DIR="$out" cargo build --locked --bins -q)
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^weft-fuzz$')
n=0
failed=""
for t in $targets; do
  n=$((n + 1))
  if ! "$out/debug/$t" -runs="$RUNS" -seed=1 >"$out/$t.log" 2>&1; then
    failed="$failed $t"
    echo "fuzz-check: $t failed; its output:" >&2
    tail -20 "$out/$t.log" >&2
  fi
done
if [ -n "$failed" ]; then
  echo "fuzz-check FAILED targets=$n runs_each=$RUNS failed=${failed# }"
  exit 1
fi
echo "fuzz-check ok targets=$n runs_each=$RUNS"
