#!/usr/bin/env bash
# TCP throughput of the weftd data plane next to wireguard-go and plain veth.
#   - weft:  2-site x 1-uplink lab with agents; iperf3 (one stream) 10.77.1.1 -> 10.77.2.1.
#   - wggo:  a plain 2-site lab with wireguard-go set up by hand in both sites
#            (interfaces wga<pid>/wgb<pid>, MTU 1420, overlay 10.88.0.1 -> 10.88.0.2).
#            Debian's wireguard-go by default; WIREGUARD_GO=PATH for another build.
#   - veth:  the same plain lab, underlay 198.18.1.2 -> 198.18.2.2 (routed through the
#            lab's internet namespace, kernel forwarding): the baseline.
# The three are interleaved in every run; figures are medians of $RUNS runs of $DURATION s,
# with the TCP retransmissions per run (median).
# Then, for weft and wireguard-go: ping RTT p50/p99 through the tunnel while one TCP stream
# runs (latency under load; weftd CPU seconds per GB moved, sender + receiver, in the same
# run), and the highest UDP rate (iperf3 -u, 1400-byte datagrams, 2 s steps up a ladder of
# rates) with under 0.1 % loss.
# Then, in a 3-site x 1-uplink lab with agents (2 peers each): weftd RSS idle, and weftd
# CPU % per agent while iperf3 pushes 100 Mbit/s (TCP, -b 100M) for $CPU_SECS s.
# PROFILE=1 also records `perf record -g` of the sending weftd during one extra weft run and
# prints the top of the report.
#
# Usage: sudo bench/throughput.sh   (needs root, iperf3, wireguard-go, wg, python3)
#        SMOKE=1 WEFT_BIN=target/debug bench/throughput.sh   1 run of 1 s, CPU for 1 s
# Env:   RUNS=3 DURATION=5 CPU_SECS=10 PROFILE=0 WIREGUARD_GO=wireguard-go
#        WEFT_BIN=<dir with weft, weftd> CARGO_TARGET_DIR=target
# Last line: throughput weft_gbps=X wggo_gbps=Y veth_gbps=Z ratio=X/Y weft_retrans=R
#            wggo_retrans=S weft_ping_p50_ms= weft_ping_p99_ms= wggo_ping_p50_ms=
#            wggo_ping_p99_ms= weft_udp_gbps= wggo_udp_gbps= weft_cpu_s_per_gb= rss_mb=
#            cpu_send_pct=S cpu_recv_pct=T
set -euo pipefail
BENCH=throughput
. "$(dirname "$0")/lib.sh"

if [ "$SMOKE" = 1 ]; then
  RUNS=${RUNS:-1}
  DURATION=${DURATION:-1}
  CPU_SECS=${CPU_SECS:-1}
else
  RUNS=${RUNS:-3}
  DURATION=${DURATION:-5}
  CPU_SECS=${CPU_SECS:-10}
fi
PROFILE=${PROFILE:-0}
WGGO=${WIREGUARD_GO:-wireguard-go}
bench_root
if [ "$WGGO" = wireguard-go ]; then
  bench_need iperf3 wireguard-go wg python3 ip ping
else
  bench_need iperf3 wg python3 ip ping
  command -v "$WGGO" >/dev/null || die "WIREGUARD_GO=$WGGO: not an executable"
fi
[ "$PROFILE" = 0 ] || command -v perf >/dev/null || die "PROFILE=1 needs perf"

bench_bins
bench_work

median() { sort -g | awk '{v[NR]=$1} END {if (NR%2) printf "%.3f", v[(NR+1)/2]; else printf "%.3f", (v[NR/2]+v[NR/2+1])/2}'; }

# weftd pid in LAB's site SITE
weftd_pid() {
  local p
  for p in $(ip netns pids "$1-$2"); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = weftd ] && { echo "$p"; return 0; }
  done
  die "no weftd process in namespace $1-$2"
}

# wait_ping NS DST: until DST answers (tunnel handshake, paths up), at most 15 s
wait_ping() {
  local i
  for i in $(seq 150); do
    ip netns exec "$1" ping -n -q -c 1 -W 1 "$2" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "$2 unreachable from $1"
}

# iperf NS SRC DST PORT [extra args] -> "Gbit/s retransmits"
iperf() {
  local ns=$1 src=$2 dst=$3 port=$4; shift 4
  ip netns exec "$ns" iperf3 -c "$dst" -B "$src" -p "$port" -t "$DURATION" -J "$@" >"$WORK/iperf.json" \
    || { cat "$WORK/iperf.json" >&2; die "iperf3 $src -> $dst failed"; }
  python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["end"]
print("%.3f %d" % (e["sum_received"]["bits_per_second"]/1e9, e["sum_sent"].get("retransmits", 0)))' "$WORK/iperf.json"
}

start=$(date +%s)
LW="tpw$$" LP="tpp$$" LR="tpr$$"

# --- weftd lab
lab_up "$LW" --sites 2 --uplinks 1 --agents
wait_ping "$LW-a" 10.77.2.1
ip netns exec "$LW-b" iperf3 -s -B 10.77.2.1 -p 5201 >/dev/null 2>&1 &
PIDS+=($!)

# --- plain lab: veth baseline and wireguard-go
lab_up "$LP" --sites 2 --uplinks 1
IFA="wga$$" IFB="wgb$$"
wggo_pair "$LP" "$IFA" "$IFB"
wait_ping "$LP-a" 10.88.0.2
ip netns exec "$LP-b" iperf3 -s -B 10.88.0.2 -p 5202 >/dev/null 2>&1 &
PIDS+=($!)
ip netns exec "$LP-b" iperf3 -s -B 198.18.2.2 -p 5203 >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.5

echo "iperf3 TCP, 1 stream, ${DURATION}s per run, $RUNS runs (weft, wireguard-go, veth interleaved)"
printf '%-4s %10s %10s %10s   (Gbit/s; retransmits in brackets)\n' run weft wggo veth
W=() G=() V=() WR=() GR=()
for r in $(seq "$RUNS"); do
  read -r w wr < <(iperf "$LW-a" 10.77.1.1 10.77.2.1 5201)
  read -r g gr < <(iperf "$LP-a" 10.88.0.1 10.88.0.2 5202)
  read -r v vr < <(iperf "$LP-a" 198.18.1.2 198.18.2.2 5203)
  W+=("$w") G+=("$g") V+=("$v") WR+=("$wr") GR+=("$gr")
  printf '%-4s %10s %10s %10s   [%s %s %s]\n' "$r" "$w" "$g" "$v" "$wr" "$gr" "$vr"
done
weft=$(printf '%s\n' "${W[@]}" | median)
wggo=$(printf '%s\n' "${G[@]}" | median)
veth=$(printf '%s\n' "${V[@]}" | median)
weft_retrans=$(printf '%s\n' "${WR[@]}" | median)
wggo_retrans=$(printf '%s\n' "${GR[@]}" | median)
printf '%-4s %10s %10s %10s   [%s %s]\n' median "$weft" "$wggo" "$veth" "$weft_retrans" "$wggo_retrans"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# load_ping NS SRC DST PORT -> "p50_ms p99_ms bytes": ping every 10 ms through the tunnel
# while one iperf3 TCP stream runs.
load_ping() {
  local ns=$1 src=$2 dst=$3 port=$4 n ipid
  n=$(( (DURATION - 1) * 100 )); [ "$n" -ge 20 ] || n=20
  ip netns exec "$ns" iperf3 -c "$dst" -B "$src" -p "$port" -t "$DURATION" -J >"$WORK/iperf-load.json" &
  ipid=$!
  sleep 0.5
  ip netns exec "$ns" ping -n -i 0.01 -c "$n" -W 1 "$dst" >"$WORK/ping-load.txt" 2>&1 || true
  wait "$ipid" || { cat "$WORK/iperf-load.json" >&2; die "iperf3 under ping to $dst failed"; }
  python3 - "$WORK/ping-load.txt" "$WORK/iperf-load.json" <<'PY'
import json, re, sys
t = sorted(float(m) for m in re.findall(r"time=([0-9.]+)", open(sys.argv[1]).read()))
q = lambda p: t[min(len(t) - 1, int(p * len(t)))] if t else float("nan")
e = json.load(open(sys.argv[2]))["end"]
print("%.3f %.3f %d" % (q(0.5), q(0.99), e["sum_received"]["bytes"]))
PY
}

pa=$(weftd_pid "$LW" a) pb=$(weftd_pid "$LW" b)
t0=$(( $(ticks "$pa") + $(ticks "$pb") ))
read -r wp50 wp99 wbytes < <(load_ping "$LW-a" 10.77.1.1 10.77.2.1 5201)
t1=$(( $(ticks "$pa") + $(ticks "$pb") ))
read -r gp50 gp99 _ < <(load_ping "$LP-a" 10.88.0.1 10.88.0.2 5202)
cpu_gb=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v b="$wbytes" 'BEGIN {printf "%.2f", (b > 0 ? t / hz / (b / 1e9) : 0)}')
echo "ping RTT under load (ms, p50/p99): weft $wp50/$wp99, wggo $gp50/$gp99; weftd CPU $cpu_gb s per GB (sender + receiver)"

# udp_max NS SRC DST PORT -> Gbit/s: the highest rate of the ladder received with < 0.1 % loss
udp_max() {
  local ns=$1 src=$2 dst=$3 port=$4 rate best=0 got secs=2 rates="50 100 200 300 450 700 1000 1500 2200 3300 5000"
  [ "$SMOKE" = 1 ] && { rates=100; secs=1; }
  for rate in $rates; do
    ip netns exec "$ns" iperf3 -u -c "$dst" -B "$src" -p "$port" -l 1400 -b "${rate}M" -t "$secs" -J \
      >"$WORK/iperf-udp.json" 2>/dev/null || break
    got=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["end"]["sum"]
print("%.3f" % (s["bits_per_second"]/1e9) if s.get("lost_percent", 100) < 0.1 else "")' "$WORK/iperf-udp.json" 2>/dev/null) || break
    [ -n "$got" ] || break
    best=$got
  done
  echo "$best"
}
wudp=$(udp_max "$LW-a" 10.77.1.1 10.77.2.1 5201)
gudp=$(udp_max "$LP-a" 10.88.0.1 10.88.0.2 5202)
echo "UDP, 1400-byte datagrams, highest rate with < 0.1 % loss (Gbit/s): weft $wudp, wggo $gudp"

if [ "$PROFILE" != 0 ]; then
  pa=$(weftd_pid "$LW" a)
  ip netns exec "$LW-a" iperf3 -c 10.77.2.1 -B 10.77.1.1 -p 5201 -t 6 >/dev/null &
  ipid=$!
  sleep 1
  perf record -q -g -p "$pa" -o "$WORK/perf.data" -- sleep 4 >/dev/null 2>&1 || true
  wait "$ipid" || true
  echo "perf (sending weftd, site a, pid $pa), top symbols by self time:"
  perf report -i "$WORK/perf.data" --no-children --sort sym --stdio 2>/dev/null \
    | awk '/^ +[0-9.]+%/ && n++ < 20 {print "  " $0}'
  echo "perf, self time by DSO:"
  perf report -i "$WORK/perf.data" --no-children --sort dso --stdio 2>/dev/null \
    | awk '/^ +[0-9.]+%/ && n++ < 6 {print "  " $0}'
fi

lab_down "$LW"
lab_down "$LP"

# --- resources: 3 sites, each weftd has 2 peers
lab_up "$LR" --sites 3 --uplinks 1 --agents
wait_ping "$LR-a" 10.77.2.1
wait_ping "$LR-a" 10.77.3.1
sleep 2
rss() { awk -v k="$2" '$1 == k":" {printf "%.2f", $2/1024}' "/proc/$1/status"; }
pids=() rss_line="weftd RSS idle, 3-site lab (2 peers each), MB:"
for s in a b c; do
  p=$(weftd_pid "$LR" "$s"); pids+=("$p")
  rss_line+=" $s=$(rss "$p" VmRSS)"
done
rss_a=$(rss "${pids[0]}" VmRSS)
echo "$rss_line"

ip netns exec "$LR-b" iperf3 -s -B 10.77.2.1 -p 5201 -1 >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.5
t0a=$(ticks "${pids[0]}"); t0b=$(ticks "${pids[1]}"); w0=$(date +%s%N)
ip netns exec "$LR-a" iperf3 -c 10.77.2.1 -B 10.77.1.1 -p 5201 -b 100M -t "$CPU_SECS" -J >"$WORK/iperf-cpu.json" \
  || die "iperf3 at 100 Mbit/s failed"
t1a=$(ticks "${pids[0]}"); t1b=$(ticks "${pids[1]}"); w1=$(date +%s%N)
got=$(python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]/1e6))' "$WORK/iperf-cpu.json")
read -r cpu_a cpu_b < <(awk -v a=$((t1a - t0a)) -v b=$((t1b - t0b)) -v hz="$hz" -v ns=$((w1 - w0)) \
  'BEGIN {s = ns / 1e9; printf "%.1f %.1f\n", 100*a/hz/s, 100*b/hz/s}')
echo "weftd CPU at 100 Mbit/s (iperf3 TCP -b 100M for ${CPU_SECS} s, got $got Mbit/s), % of one core: sender a=$cpu_a receiver b=$cpu_b"
rss_line="weftd RSS after traffic (VmRSS / VmHWM), MB:"
for i in 0 1 2; do
  rss_line+=" $(printf '%s' abc | cut -c$((i + 1)))=$(rss "${pids[$i]}" VmRSS)/$(rss "${pids[$i]}" VmHWM)"
done
echo "$rss_line"
lab_down "$LR"

echo "runtime: $(( $(date +%s) - start )) s"
ratio=$(awk -v x="$weft" -v y="$wggo" 'BEGIN {printf "%.2f", (y > 0 ? x / y : 0)}')
bench_result throughput "weft_gbps=$weft" "wggo_gbps=$wggo" "veth_gbps=$veth" "ratio=$ratio" \
  "weft_retrans=$weft_retrans" "wggo_retrans=$wggo_retrans" \
  "weft_ping_p50_ms=$wp50" "weft_ping_p99_ms=$wp99" "wggo_ping_p50_ms=$gp50" "wggo_ping_p99_ms=$gp99" \
  "weft_udp_gbps=$wudp" "wggo_udp_gbps=$gudp" "weft_cpu_s_per_gb=$cpu_gb" \
  "rss_mb=$rss_a" "cpu_send_pct=$cpu_a" "cpu_recv_pct=$cpu_b"
