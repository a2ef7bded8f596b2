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
# Then, in the qos lab, a bandwidth reservation: a UDP stream of class bulk (port 9000,
# weight 1) offered at $RESERVE against one iperf3 TCP stream of best-effort (port 5201,
# weight 2), both a -> b for $LOAD_SECS s, first without a reservation (bulk gets its
# weighted share), then with `weft reserve add --to b --class bulk --rate $RESERVE`
# (admitted on u0; 40 Mbit/s of the 50 are reservable): the figure is the UDP rate b
# received. A reservation that does not fit (45mbit) must be refused with a reason.
# The agents run a policy (written by the script) that puts UDP 5060 in realtime, TCP 873
# and UDP 9000 in bulk, the rest in best-effort.
#
# Usage: sudo bench/qos.sh                    (needs root, iperf3, python3)
#        SMOKE=1 WEFT_BIN=target/debug bench/qos.sh
# Env:   RATE=50mbit RESERVE=20mbit IDLE_SECS=8 LOAD_SECS=10 WEFT_BIN CARGO_TARGET_DIR=target
# Last line: qos idle_p99_ms=A loaded_p99_ms=B noqos_loaded_p99_ms=C reservation_mbps=R
#            noqos_idle_p99_ms= bulk_mbps= noqos_bulk_mbps= unreserved_mbps= refused=yes|no
set -euo pipefail
BENCH=qos
. "$(dirname "$0")/lib.sh"

RATE=${RATE:-50mbit}
RESERVE=${RESERVE:-20mbit}
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
cat >"$WORK/policy.toml" <<'POLICY'
[policy]
name = "qos-bench"
default = "allow"
default_class = "best-effort"

[apps.voice]
protocol = "udp"
ports = ["5060-5061"]

[apps.rsync]
protocol = "tcp"
ports = [873]

[apps.bulkudp]
protocol = "udp"
ports = [9000]

[[route]]
name = "voice"
app = "voice"
class = "realtime"

[[route]]
name = "rsync"
app = "rsync"
class = "bulk"

[[route]]
name = "bulkudp"
app = "bulkudp"
class = "bulk"
POLICY
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
  lab_up "$lab" --sites 2 --uplinks 1 --agents --uplink-capacity "$RATE" --policy "$WORK/policy.toml" "$@" >&2
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
  local reserved=- unreserved=- refused=-
  if [ "$mode" = qos ]; then
    read -r unreserved reserved refused < <(reservation "$lab")
  fi
  lab_down "$lab"
  echo "$(echo "$idle" | cut -d' ' -f3) $(echo "$loaded" | cut -d' ' -f3) $bulk $unreserved $reserved $refused"
}

# mbps FILE: received Mbit/s of an iperf3 -J report
mbps() {
  python3 -c "import json,sys; print('%.1f' % (json.load(open(sys.argv[1]))['end']['sum_received']['bits_per_second']/1e6))" "$1"
}

# contend LAB TAG: UDP bulk (9000) at $RESERVE and TCP best-effort (5201) a -> b at once;
# the UDP Mbit/s b received
contend() {
  local lab=$1 tag=$2
  ip netns exec "$lab-a" iperf3 -c 10.77.2.1 -B 10.77.1.1 -p 9000 -u -b "${RESERVE%bit}" -l 1200 \
    -t "$LOAD_SECS" -J >"$WORK/udp-$tag.json" &
  local udp=$!
  ip netns exec "$lab-a" iperf3 -c 10.77.2.1 -B 10.77.1.1 -p 5201 -t "$LOAD_SECS" -J >"$WORK/be-$tag.json" &
  local be=$!
  wait "$udp" || { cat "$WORK/udp-$tag.json" >&2; die "UDP iperf3 ($tag) failed"; }
  wait "$be" || { cat "$WORK/be-$tag.json" >&2; die "best-effort iperf3 ($tag) failed"; }
  local got
  got=$(python3 -c "
import json, sys
s = json.load(open(sys.argv[1]))['end']['sum']
print('%.1f' % (s['bits_per_second'] * (1 - s['lost_percent'] / 100) / 1e6))" "$WORK/udp-$tag.json")
  say "reservation $tag: bulk UDP received $got Mbit/s of $RESERVE offered, best-effort TCP $(mbps "$WORK/be-$tag.json") Mbit/s"
  echo "$got"
}

# reservation LAB -> "unreserved_mbps reserved_mbps refused(yes|no)"
reservation() {
  local lab=$1 sock="/run/weft-lab/$1/agents/a-state/api.sock" unreserved reserved refused=no
  ip netns exec "$lab-b" iperf3 -s -B 10.77.2.1 -p 9000 >/dev/null 2>&1 &
  PIDS+=($!)
  sleep 0.3
  unreserved=$(contend "$lab" none)
  "$WEFT" reserve add --to b --class bulk --rate "$RESERVE" --priority 5 --socket "$sock" >&2 \
    || die "the $RESERVE reservation was refused"
  reserved=$(contend "$lab" "$RESERVE")
  if out=$("$WEFT" reserve add --to b --class bulk --rate 45mbit --socket "$sock" 2>&1); then
    say "a 45mbit reservation was admitted: $out"
  else
    refused=yes
    say "45mbit refused: $out"
  fi
  curl -sf --max-time 2 --unix-socket "$sock" http://weft/api/v1/qos >"$WORK/qos-a.json" 2>/dev/null || true
  echo "$unreserved $reserved $refused"
}

read -r q_idle q_loaded q_bulk q_unreserved q_reserved q_refused < <(run_mode qos)
read -r n_idle n_loaded n_bulk _ < <(run_mode noqos --no-qos)
[ -s "$WORK/qos-a.json" ] && say "site a's lanes (GET /api/v1/qos): $(head -c 800 "$WORK/qos-a.json")"
[ "$q_refused" = yes ] || die "a reservation that does not fit was admitted"
bench_result qos idle_p99_ms="$q_idle" loaded_p99_ms="$q_loaded" noqos_loaded_p99_ms="$n_loaded" \
  reservation_mbps="$q_reserved" noqos_idle_p99_ms="$n_idle" bulk_mbps="$q_bulk" \
  noqos_bulk_mbps="$n_bulk" unreserved_mbps="$q_unreserved" refused=1
