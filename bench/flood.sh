#!/usr/bin/env bash
# An established weftd tunnel under a flood of spoofed WireGuard handshake initiations.
#   Lab: 2 sites x 1 uplink with agents (weft lab up --agents); iperf3 (one TCP stream)
#   10.77.1.1 -> 10.77.2.1 through the tunnel, $DURATION s per measurement.
#   Flood: weft-flood-gen in the lab's internet namespace sends $PPS initiations/s from
#   $SOURCES spoofed addresses (100.64.0.1 up) to site b's uplink 198.18.2.2:51820. Each
#   has a valid MAC1 for b's key, so without limits every one would cost b an X25519
#   operation; MAC2 is empty (no cookie).
#   Three phases of $RUNS x (no flood, flood) interleaved, medians:
#     control the flood sent over a veth to a namespace that drops it (it never
#             reaches b): what the generator's own CPU, on the same cores, costs the tunnel
#     nohook  b with the default [flood] (limits and cookies; no nftables hook)
#     hook    b restarted with `[flood] mitigate = true` (sources go to the nftables set):
#             each flood starts $SETTLE s before iperf3, so in the first run detection
#             and blocking have happened; later runs find the sources still blocked (60 s).
#   During each flood, b's API (GET /api/v1/ddos on its socket) must answer within 2 s.
#   The machine is shared and noisy: compare figures of one run only.
# Prints b's flood counters (weft ddos status --json) at the end.
#
# Usage: sudo bench/flood.sh   (needs root, iperf3, python3, curl, nft)
#        SMOKE=1 WEFT_BIN=target/debug bench/flood.sh   (1 run of 1 s measurements, no
#        control phase, ~25 s)
# Env:   DURATION=10 RUNS=3 PPS=100000 SOURCES=1024 SETTLE=4 WEFT_BIN=<dir> CARGO_TARGET_DIR=target
# Last line: flood pps=P kept_pct=K api_ok=yes|no dropped_nft=D
#            (kept_pct: median flooded / median unflooded throughput in the hook phase; pps:
#            the generator's achieved rate in its last run) followed on the line by
#            nohook_kept_pct= ctl_kept_pct= base_gbps= hook_gbps= base_nohook_gbps= nohook_gbps=
#            cookie_replies= rate_source= cookie_required= blocked= (b's counters after the
#            hook phase)
#            gen_cpu_pct= nohook_gen_cpu_pct= weftd_b_cpu_pct= nohook_weftd_b_cpu_pct= (CPU % of
#            one core over the flooded iperf3 runs: the generator shares this machine's cores)
set -euo pipefail
BENCH=flood
. "$(dirname "$0")/lib.sh"

if [ "$SMOKE" = 1 ]; then
  DURATION=${DURATION:-1}
  SETTLE=${SETTLE:-3}
  RUNS=${RUNS:-1}
  TAIL=1
else
  DURATION=${DURATION:-10}
  SETTLE=${SETTLE:-4}
  RUNS=${RUNS:-3}
  TAIL=4
fi
PPS=${PPS:-100000}
SOURCES=${SOURCES:-1024}
bench_root
bench_need iperf3 python3 curl nft ip
bench_bins
bench_work
GEN=$(dirname "$WEFTD")/weft-flood-gen
[ -x "$GEN" ] || die "no weft-flood-gen next to $WEFTD (cargo build -p weftd)"

L="fl$$"
lab_up "$L" --sites 2 --uplinks 1 --agents
AGENTS=/run/weft-lab/$L/agents
SOCK=$AGENTS/b-state/api.sock
PUB=$("$WEFT" pubkey <"$AGENTS/b.key")

api() { curl -sS --max-time "${2:-5}" --unix-socket "$SOCK" "http://weft$1"; }

weftd_pid() {
  local p
  for p in $(ip netns pids "$L-b"); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = weftd ] && { echo "$p"; return 0; }
  done
  return 1
}

# restart_b: stops b's agent and starts it again with the current b.toml.
restart_b() {
  local p i
  p=$(weftd_pid) || die "no weftd in $L-b"
  kill "$p"
  for i in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  ip netns exec "$L-b" "$WEFTD" --config "$AGENTS/b.toml" >>"$AGENTS/b.log" 2>&1 &
  PIDS+=($!)
  for i in $(seq 100); do api /api/v1/health 1 >/dev/null 2>&1 && return 0; sleep 0.1; done
  tail -n 20 "$AGENTS/b.log" >&2
  die "site b's agent did not come back"
}

wait_tunnel() {
  local i
  for i in $(seq 150); do
    ip netns exec "$L-a" ping -n -q -c 1 -W 1 10.77.2.1 >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "10.77.2.1 unreachable from site a"
}

# iperf -> Gbit/s
iperf() {
  ip netns exec "$L-a" iperf3 -c 10.77.2.1 -B 10.77.1.1 -p 5201 -t "$DURATION" -J >"$WORK/iperf.json" \
    || { cat "$WORK/iperf.json" >&2; die "iperf3 through the tunnel failed"; }
  python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["end"]
print("%.3f" % (e["sum_received"]["bits_per_second"]/1e9))' "$WORK/iperf.json"
}

ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
HZ=$(getconf CLK_TCK)
cpu_pct() { python3 -c 'import sys; print("%.0f" % max(0, 100 * (int(sys.argv[2]) - int(sys.argv[1])) / int(sys.argv[3]) / float(sys.argv[4])))' "$@"; }

# flooded PHASE -> "Gbit/s api_ok achieved_pps gen_cpu_pct weftd_b_cpu_pct" (CPU over the
# iperf3 run)
flooded() {
  local phase=$1 gen_pid gbps ok=yes b g0 g1 b0 b1
  ip netns exec "$L-inet" "$GEN" --dst "$FLOOD_DST" --pubkey "$PUB" --pps "$PPS" \
    --sources "$SOURCES" --secs $((DURATION + SETTLE + TAIL)) >"$WORK/gen-$phase.txt" 2>&1 &
  gen_pid=$!
  PIDS+=("$gen_pid")
  sleep "$SETTLE"
  api /api/v1/ddos 2 >"$WORK/ddos-$phase-during.json" || ok=no
  b=$(weftd_pid) || die "no weftd in $L-b"
  g0=$(ticks "$gen_pid") b0=$(ticks "$b")
  gbps=$(iperf)
  g1=$(ticks "$gen_pid") b1=$(ticks "$b")
  api /api/v1/ddos 2 >/dev/null || ok=no
  wait "$gen_pid" || { cat "$WORK/gen-$phase.txt" >&2; die "weft-flood-gen failed"; }
  sed -n 's/.* pps=\([0-9]*\).*/\1/p' "$WORK/gen-$phase.txt" | tail -n 1 >"$WORK/pps-$phase"
  echo "$gbps $ok $(cat "$WORK/pps-$phase") $(cpu_pct "$g0" "$g1" "$HZ" "$DURATION") $(cpu_pct "$b0" "$b1" "$HZ" "$DURATION")"
}

wait_tunnel
ip netns exec "$L-b" iperf3 -s -B 10.77.2.1 -p 5201 >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.5

median() { sort -g | awk '{v[NR]=$1} END {if (NR%2) printf "%.3f", v[(NR+1)/2]; else printf "%.3f", (v[NR/2]+v[NR/2+1])/2}'; }
api_ok=yes
# phase NAME: $RUNS x (no flood, flood) interleaved; sets BASE and FLOODED (medians), PPS_GOT,
# GEN_CPU and B_CPU (of the last run)
phase() {
  local name=$1 r b f ok bs=() fs=()
  for r in $(seq "$RUNS"); do
    b=$(iperf)
    read -r f ok PPS_GOT GEN_CPU B_CPU < <(flooded "$name-$r")
    [ -n "$B_CPU" ] || die "the flooded measurement $name-$r failed (see $WORK)"
    [ "$ok" = yes ] || api_ok=no
    say "$name run $r: no flood $b Gbit/s, flood of $PPS_GOT/s $f Gbit/s, API answered: $ok (CPU: generator $GEN_CPU %, weftd b $B_CPU %)"
    bs+=("$b") fs+=("$f")
  done
  BASE=$(printf '%s\n' "${bs[@]}" | median)
  FLOODED=$(printf '%s\n' "${fs[@]}" | median)
}

# Control: the same generator, its flood sent over a veth into a sink namespace that drops
# it (no such address there), never reaching b: what the generator and the kernel's
# handling of the flood, on these shared cores, cost the tunnel without any agent involved.
if [ "$SMOKE" = 0 ]; then
  SINK="$L-sink"
  ip netns add "$SINK"
  NETNS+=("$SINK")
  ip -n "$L-inet" link add flood0 type veth peer name sink0 netns "$SINK"
  ip -n "$L-inet" link set flood0 up
  ip -n "$SINK" link set sink0 up
  ip -n "$L-inet" route add 203.0.113.0/24 dev flood0
  mac=$(ip -n "$SINK" -o link show sink0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
  ip -n "$L-inet" neigh add 203.0.113.1 lladdr "$mac" dev flood0 nud permanent
  FLOOD_DST=203.0.113.1:51820
  phase control
  base_ctl=$BASE ctl=$FLOODED
else
  base_ctl=0 ctl=0 # no control run in the smoke test (it only explains the figures)
fi

FLOOD_DST=198.18.2.2:51820
phase nohook
base_nohook=$BASE nohook=$FLOODED nohook_gen_cpu=$GEN_CPU nohook_b_cpu=$B_CPU

printf '\n[flood]\nmitigate = true\nnft_table = "weft_flood"\n' >>"$AGENTS/b.toml"
restart_b
wait_tunnel
sleep 1
phase hook
base=$BASE hook=$FLOODED pps=$PPS_GOT gen_cpu=$GEN_CPU b_cpu=$B_CPU
api /api/v1/ddos >"$WORK/ddos.json" || die "site b's API does not answer after the flood"
"$WEFT" ddos status --socket "$SOCK" >&2 || die "weft ddos status failed"

read -r dropped_nft blocked cookies rate_source cookie_required < <(python3 - "$WORK/ddos.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
m = d.get("mitigation") or {}
drops = {c["name"]: c["count"] for c in d["dropped"]}
print(m.get("dropped_packets", 0), len(m.get("blocked", [])), d["cookie_replies"],
      drops.get("rate_source", 0), drops.get("cookie_required", 0))
PY
)
[ "$dropped_nft" -gt 0 ] || die "the nftables hook dropped nothing (see $WORK/ddos.json)"
pct() { python3 -c 'import sys; b=float(sys.argv[1]); print("%.1f" % (100*float(sys.argv[2])/b if b > 0 else 0))' "$@"; }
kept=$(pct "$base" "$hook")
nohook_kept=$(pct "$base_nohook" "$nohook")
ctl_kept=$(pct "$base_ctl" "$ctl")
for v in "$pps" "$kept" "$nohook_kept" "$dropped_nft"; do
  [[ $v =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "a figure is missing or not a number: $v"
done
echo "flood pps=$pps kept_pct=$kept api_ok=$api_ok dropped_nft=$dropped_nft nohook_kept_pct=$nohook_kept ctl_kept_pct=$ctl_kept base_gbps=$base hook_gbps=$hook base_nohook_gbps=$base_nohook nohook_gbps=$nohook cookie_replies=$cookies rate_source=$rate_source cookie_required=$cookie_required blocked=$blocked gen_cpu_pct=$gen_cpu nohook_gen_cpu_pct=$nohook_gen_cpu weftd_b_cpu_pct=$b_cpu nohook_weftd_b_cpu_pct=$nohook_b_cpu"
