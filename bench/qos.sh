#!/usr/bin/env bash
# QoS under load: a realtime stream's one-way delay while bulk TCP saturates the same
# uplink, with the QoS scheduler and without it.
#
# Per mode, a 2-site x 1-uplink lab with agents; every uplink is rate-limited to
# $RATE by the lab (tbf on both veth ends, 50 ms of queue: the "modem") and the agents
# are told its capacity (`capacity = $RATE`):
#   - qos:   the default `[qos]`: weftd shapes to 95 % of the capacity and serves the
#            realtime class first, so the queue forms in weftd, not in the modem;
#   - noqos: `[qos] enabled = false`: weftd sends as fast as it can.
# A UDP stream to port 5060 (class realtime in the lab's class map) runs a -> b at 50
# pkt/s (200-byte datagrams, send time inside; one clock, one machine). Its one-way delay
# p99 is taken over $IDLE_SECS s idle, then over $LOAD_SECS s while one iperf3 TCP stream
# (best-effort) runs a -> b (the first second of load left out: ramp-up).
#
# Usage: sudo bench/qos.sh                    (needs root, iperf3, python3)
#        SMOKE=1 WEFT_BIN=target/debug bench/qos.sh
# Env:   RATE=50mbit IDLE_SECS=8 LOAD_SECS=10 WEFT_BIN CARGO_TARGET_DIR=target
# Last line: qos idle_p99_ms=A loaded_p99_ms=B noqos_idle_p99_ms=C noqos_loaded_p99_ms=D
#            bulk_mbps=E noqos_bulk_mbps=F
set -euo pipefail
BENCH=qos
. "$(dirname "$0")/lib.sh"

RATE=${RATE:-50mbit}
if [ "$SMOKE" = 1 ]; then
  IDLE_SECS=${IDLE_SECS:-2}
  LOAD_SECS=${LOAD_SECS:-3}
else
  IDLE_SECS=${IDLE_SECS:-8}
  LOAD_SECS=${LOAD_SECS:-10}
fi
bench_root
bench_need iperf3 python3 ip ping
bench_bins
bench_work
UDP=bench/udpstream.py
now() { python3 "$UDP" now; }

wait_ping() {
  local i
  for i in $(seq 200); do
    ip netns exec "$1" ping -n -q -c 1 -W 1 "$2" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "$2 unreachable from $1"
}

# run_mode MODE [extra lab up args] -> "idle_p99 loaded_p99 bulk_mbps" on stdout
run_mode() {
  local mode=$1 lab="qs$$${1:0:1}"; shift
  local log=$WORK/recv-$mode.log
  lab_up "$lab" --sites 2 --uplinks 1 --agents --uplink-capacity "$RATE" "$@" >&2
  "$WEFT" lab link a:0 --rate "$RATE" --name "$lab" >/dev/null
  "$WEFT" lab link b:0 --rate "$RATE" --name "$lab" >/dev/null
  wait_ping "$lab-a" 10.77.2.1
  : >"$log"
  ip netns exec "$lab-b" python3 "$UDP" recv --bind 10.77.2.1:5060 --log "$log" --send-times &
  PIDS+=($!)
  ip netns exec "$lab-b" iperf3 -s -B 10.77.2.1 -p 5201 >/dev/null 2>&1 &
  PIDS+=($!)
  sleep 0.3
  ip netns exec "$lab-a" python3 "$UDP" send --src 10.77.1.1 --dst 10.77.2.1:5060 --rate 50 &
  PIDS+=($!)
  sleep 1
  local t0 t1 t2 t3
  t0=$(now)
  sleep "$IDLE_SECS"
  t1=$(now)
  ip netns exec "$lab-a" iperf3 -c 10.77.2.1 -B 10.77.1.1 -p 5201 -t "$LOAD_SECS" -J >"$WORK/iperf-$mode.json" \
    || { cat "$WORK/iperf-$mode.json" >&2; die "$mode: iperf3 failed"; }
  t3=$(now)
  t2=$(python3 -c "print($t1 + 1.0)")
  sleep 0.3
  local idle loaded bulk
  idle=$(python3 "$UDP" delays --log "$log" --since "$t0" --until "$t1")
  loaded=$(python3 "$UDP" delays --log "$log" --since "$t2" --until "$t3")
  bulk=$(python3 -c "import json,sys; print('%.1f' % (json.load(open(sys.argv[1]))['end']['sum_received']['bits_per_second']/1e6))" "$WORK/iperf-$mode.json")
  say "$mode: idle (n p50 p99 max ms) $idle; loaded $loaded; bulk $bulk Mbit/s"
  [ "${idle%% *}" -gt 0 ] && [ "${loaded%% *}" -gt 0 ] || die "$mode: the realtime stream did not arrive"
  if [ "$mode" = qos ]; then
    curl -sf --max-time 2 --unix-socket "/run/weft-lab/$lab/agents/a-state/api.sock" \
      http://weft/api/v1/qos >"$WORK/qos-a.json" 2>/dev/null || true
  fi
  lab_down "$lab"
  echo "$(echo "$idle" | cut -d' ' -f3) $(echo "$loaded" | cut -d' ' -f3) $bulk"
}

read -r q_idle q_loaded q_bulk < <(run_mode qos)
read -r n_idle n_loaded n_bulk < <(run_mode noqos --no-qos)
[ -s "$WORK/qos-a.json" ] && say "site a's lanes under load (GET /api/v1/qos): $(head -c 600 "$WORK/qos-a.json")"
bench_result qos idle_p99_ms="$q_idle" loaded_p99_ms="$q_loaded" noqos_idle_p99_ms="$n_idle" \
  noqos_loaded_p99_ms="$n_loaded" bulk_mbps="$q_bulk" noqos_bulk_mbps="$n_bulk"
