#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ (or the ones named) for SECONDS each,
# one after the other, and prints one line per target: executions, coverage
# (libFuzzer's `cov:`), and whether it crashed. Fails if any target crashed
# or did not run; a crash leaves its input in fuzz/artifacts/TARGET/ and the
# log in the work directory printed at the end.
#
# The targets build once (release, debug assertions on, AddressSanitizer by
# default) into $CARGO_TARGET_DIR/fuzz; corpora grow in fuzz/corpus/TARGET/
# (not committed). cargo-fuzz needs nightly features: RUSTC_BOOTSTRAP=1 lets
# the stable toolchain build them. Installs cargo-fuzz when missing.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]    (default 60 s, every target)
# Env:   FUZZ_SANITIZER=address|none   (default address)
#        FUZZ_JOBS=1                   parallel libFuzzer jobs per target
#        CARGO_TARGET_DIR=target
# Last line: fuzz ok|FAILED targets=N seconds=S execs=N crashes=N
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${1:-60}
shift || true
SANITIZER=${FUZZ_SANITIZER:-address}
JOBS=${FUZZ_JOBS:-1}
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}/fuzz
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz 0.13.2 (once)" >&2
  cargo install --locked --version 0.13.2 cargo-fuzz
fi

cd fuzz
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi
fuzz_args=(--sanitizer "$SANITIZER" --target-dir "$TARGET_DIR")

echo "fuzz: building ${#targets[@]} targets (sanitizer $SANITIZER)" >&2
cargo fuzz build "${fuzz_args[@]}"

WORK=$(mktemp -d /tmp/weft-fuzz.XXXXXX)
total_execs=0
crashes=0
failed=()
for t in "${targets[@]}"; do
  log=$WORK/$t.log
  mkdir -p "corpus/$t"
  rc=0
  # With -jobs, libFuzzer writes each job's output to ./fuzz-N.log instead.
  parallel=()
  [ "$JOBS" -le 1 ] || parallel=(-jobs="$JOBS" -workers="$JOBS")
  cargo fuzz run "${fuzz_args[@]}" "$t" -- \
    -max_total_time="$SECONDS_EACH" "${parallel[@]}" -print_final_stats=1 >"$log" 2>&1 || rc=$?
  [ "$JOBS" -le 1 ] || cat fuzz-*.log >>"$log" 2>/dev/null && rm -f fuzz-*.log
  execs=$(grep -ho 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{s += $2} END {print s + 0}')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  state=ok
  if [ "$rc" -ne 0 ] || grep -q 'ERROR: libFuzzer\|panicked at\|SUMMARY: AddressSanitizer' "$log"; then
    state=CRASH
    crashes=$((crashes + 1))
    failed+=("$t")
  elif [ "$execs" -eq 0 ]; then
    state=NO-RUNS
    failed+=("$t")
  fi
  total_execs=$((total_execs + execs))
  echo "fuzz: $t state=$state execs=$execs cov=${cov:-0} seconds=$SECONDS_EACH"
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]} (logs in $WORK, inputs in fuzz/artifacts/)" >&2
  echo "fuzz FAILED targets=${#targets[@]} seconds=$SECONDS_EACH execs=$total_execs crashes=$crashes"
  exit 1
fi
rm -rf "$WORK"
echo "fuzz ok targets=${#targets[@]} seconds=$SECONDS_EACH execs=$total_execs crashes=$crashes"
