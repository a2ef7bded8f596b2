#!/usr/bin/env bash
# Measures weft-lab's WAN emulator with no impairment configured:
#   - TCP throughput ceiling (iperf3, one stream) through the emulator, next to the
#     same lab forwarding in the kernel (plain veth + routing, the emulator bypassed);
#   - the round-trip time the emulator adds (ping, $PINGS echoes 5 ms apart per run).
# Two 2-site x 1-uplink labs (one plain, one with --via-emulator); every figure is the
# median of $RUNS runs (default 3) of $DURATION s (default 5).
#
# Usage: sudo bench/wan-emulator.sh        (needs root, iperf3, iproute2, python3)
#        SMOKE=1 WEFT_BIN=target/debug bench/wan-emulator.sh   1 run of 1 s, 20 pings
# Env:   RUNS=3 DURATION=5 PINGS=200 WEFT_BIN=<dir with weft> CARGO_TARGET_DIR=target
# Last line: wan-emulator veth_gbps=A emu_gbps=B emu_pct_of_veth=C veth_rtt_ms=D
#            emu_rtt_ms=E added_rtt_ms=F
set -euo pipefail
BENCH=wan-emulator
. "$(dirname "$0")/lib.sh"

if [ "$SMOKE" = 1 ]; then
  RUNS=${RUNS:-1}
  DURATION=${DURATION:-1}
  PINGS=${PINGS:-20}
else
  RUNS=${RUNS:-3}
  DURATION=${DURATION:-5}
  PINGS=${PINGS:-200}
fi
bench_root
bench_need iperf3 ping ip python3
bench_bins weft
bench_work

median() { sort -g | awk 'NF {v[++n]=$1} END {if (!n) exit; if (n%2) print v[(n+1)/2]; else print (v[n/2]+v[n/2+1])/2}'; }

# measure LAB [up options...] -> sets M_TPUT (Gbit/s median) and M_RTT (ms median); runs in
# this shell (not in a subshell) so that the EXIT trap knows the lab
measure() {
  local lab=$1; shift
  lab_up "$lab" --sites 2 --uplinks 1 "$@"
  local a=198.18.1.2 b=198.18.2.2 tput=() rtt=() r
  ip netns exec "$lab-b" iperf3 -s -B "$b" >/dev/null 2>&1 &
  PIDS+=($!)
  sleep 0.5
  for r in $(seq "$RUNS"); do
    ip netns exec "$lab-a" iperf3 -c "$b" -B "$a" -t "$DURATION" -J >"$WORK/iperf-$lab-$r.json" \
      || { cat "$WORK/iperf-$lab-$r.json" >&2; die "$lab: iperf3 $a -> $b failed"; }
    tput+=("$(python3 -c 'import json, sys
print("%.3f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e9))' "$WORK/iperf-$lab-$r.json")")
    ip netns exec "$lab-a" ping -n -q -c "$PINGS" -i 0.005 -I "$a" "$b" >"$WORK/ping-$lab-$r.txt" \
      || { cat "$WORK/ping-$lab-$r.txt" >&2; die "$lab: ping $a -> $b failed"; }
    rtt+=("$(awk -F'/' '/^rtt/ {print $5}' "$WORK/ping-$lab-$r.txt")")
  done
  lab_down "$lab"
  M_TPUT=$(printf '%s\n' "${tput[@]}" | median)
  M_RTT=$(printf '%s\n' "${rtt[@]}" | median)
}

measure "wev$$"
veth_tput=$M_TPUT veth_rtt=$M_RTT
measure "wee$$" --via-emulator
emu_tput=$M_TPUT emu_rtt=$M_RTT

awk -v vt="$veth_tput" -v vr="$veth_rtt" -v et="$emu_tput" -v er="$emu_rtt" -v n="$RUNS" -v d="$DURATION" -v p="$PINGS" 'BEGIN {
  printf "weft-lab WAN emulator, no impairment (iperf3 TCP 1 stream %ss, ping x%d; medians of %d runs)\n", d, p, n
  printf "%-34s %12s %14s\n", "path (site a -> inet -> site b)", "TCP Gbit/s", "ping RTT ms"
  printf "%-34s %12.3f %14.3f\n", "plain veth (kernel forwarding)", vt, vr
  printf "%-34s %12.3f %14.3f\n", "through the emulator (TUN)", et, er
  printf "emulator ceiling: %.3f Gbit/s (%.1f%% of veth); added RTT: %.3f ms (%.3f ms per pass through the emulator)\n", et, 100*et/vt, er-vr, (er-vr)/2
}'
pct=$(awk -v vt="$veth_tput" -v et="$emu_tput" 'BEGIN {if (vt > 0) printf "%.1f", 100*et/vt}')
added=$(awk -v vr="$veth_rtt" -v er="$emu_rtt" 'BEGIN {if (vr != "" && er != "") printf "%.3f", er-vr}')
bench_result wan-emulator "veth_gbps=$veth_tput" "emu_gbps=$emu_tput" "emu_pct_of_veth=$pct" \
  "veth_rtt_ms=$veth_rtt" "emu_rtt_ms=$emu_rtt" "added_rtt_ms=$added"
