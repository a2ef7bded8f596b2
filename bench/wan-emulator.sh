#!/usr/bin/env bash
# Measures weft-lab's WAN emulator with no impairment configured:
#   - TCP throughput ceiling (iperf3, one stream) through the emulator, next to the
#     same lab forwarding in the kernel (plain veth + routing, the emulator bypassed);
#   - the round-trip time the emulator adds (ping, 200 echoes per run).
# Every figure is the median of $RUNS runs (default 3) of $DURATION s (default 5).
#
# Usage: sudo bench/wan-emulator.sh        (needs root, iperf3, iproute2)
# Env:   RUNS=3 DURATION=5 CARGO_TARGET_DIR=target
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
TARGET=${CARGO_TARGET_DIR:-target}
[ "$(id -u)" -eq 0 ] || { echo "wan-emulator.sh: needs root (network namespaces)" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "wan-emulator.sh: iperf3 missing; run scripts/install-deps.sh bench" >&2; exit 1; }

cargo build --release -q -p weft
WEFT=$TARGET/release/weft
LABS=()
cleanup() { for l in "${LABS[@]}"; do "$WEFT" lab down --name "$l" >/dev/null 2>&1 || true; done; }
trap cleanup EXIT

median() { sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

# measure LAB [up options...] -> prints "<Mbit/s median> <RTT ms median>"
measure() {
  local lab=$1; shift
  LABS+=("$lab")
  "$WEFT" lab down --name "$lab" >/dev/null 2>&1 || true
  "$WEFT" lab up --name "$lab" --sites 2 --uplinks 1 "$@" >/dev/null
  local a=198.18.1.2 b=198.18.2.2 tput=() rtt=()
  "$WEFT" lab exec --name "$lab" b -- iperf3 -s -B "$b" >/dev/null 2>&1 &
  sleep 0.5
  for _ in $(seq "$RUNS"); do
    tput+=("$("$WEFT" lab exec --name "$lab" a -- iperf3 -c "$b" -B "$a" -t "$DURATION" -f m \
      | awk '/receiver/ {for (i=1;i<=NF;i++) if ($i ~ /Mbits\/sec/) print $(i-1)}')")
    rtt+=("$("$WEFT" lab exec --name "$lab" a -- ping -n -q -c 200 -i 0.005 -I "$a" "$b" \
      | awk -F'/' '/^rtt/ {print $5}')")
  done
  "$WEFT" lab down --name "$lab" >/dev/null
  echo "$(printf '%s\n' "${tput[@]}" | median) $(printf '%s\n' "${rtt[@]}" | median)"
}

read -r veth_tput veth_rtt < <(measure "bench-veth$$")
read -r emu_tput emu_rtt < <(measure "bench-emu$$" --via-emulator)

awk -v vt="$veth_tput" -v vr="$veth_rtt" -v et="$emu_tput" -v er="$emu_rtt" -v n="$RUNS" -v d="$DURATION" 'BEGIN {
  printf "weft-lab WAN emulator, no impairment (iperf3 TCP 1 stream %ss, ping x200; medians of %d runs)\n", d, n
  printf "%-34s %12s %14s\n", "path (site a -> inet -> site b)", "TCP Mbit/s", "ping RTT ms"
  printf "%-34s %12.0f %14.3f\n", "plain veth (kernel forwarding)", vt, vr
  printf "%-34s %12.0f %14.3f\n", "through the emulator (TUN)", et, er
  printf "emulator ceiling: %.0f Mbit/s (%.1f%% of veth); added RTT: %.3f ms (%.3f ms per pass through the emulator)\n", et, 100*et/vt, er-vr, (er-vr)/2
}'
