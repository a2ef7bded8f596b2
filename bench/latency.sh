#!/usr/bin/env bash
# Round-trip latency through four tunnels, idle and under load, in one run.
#   - weft:  2-site x 1-uplink lab with agents (weftd's WireGuard), 10.77.1.1 -> 10.77.2.1.
#   - ipsec: a plain 2-site lab with strongSwan in both sites (scripts/ipsec-lab.sh: IKEv2,
#            PSK, ESP AES-GCM in userspace through kernel-libipsec), 10.99.0.1 -> 10.99.0.2.
#   - wggo:  the same plain lab with wireguard-go set up by hand (as bench/throughput.sh),
#            10.88.0.1 -> 10.88.0.2; Debian's wireguard-go, WIREGUARD_GO=PATH for another.
#   - plain: the same plain lab's underlay, 198.18.1.2 -> 198.18.2.2 (kernel forwarding).
# Per mode: $IDLE pings every 10 ms (`ping -i 0.01`) idle, and $LOADED pings while one
# iperf3 TCP stream a -> b runs through the same tunnel (it starts 0.5 s before the pings).
# The modes are interleaved in $ROUNDS rounds (each round: every mode idle, then every mode
# loaded, 1/ROUNDS of the pings each), so that other load on the machine falls on all alike.
# Figures per mode and phase: RTT p50/p99/p99.9 (nearest rank), jitter (mean |difference|
# of consecutive RTTs), losses. Writes $TARGET/latency/latency.md (the table),
# latency.png (gnuplot bars of p50/p99, log scale), the samples (samples/MODE-PHASE.txt).
#
# Usage: sudo bench/latency.sh   (root; iperf3, wireguard-go, wg, strongSwan, gnuplot)
#        SMOKE=1 WEFT_BIN=target/debug bench/latency.sh   100 pings per phase, 1 round
# Env:   IDLE=1000 LOADED=1000 ROUNDS=5 WIREGUARD_GO=wireguard-go WEFT_BIN=
#        CARGO_TARGET_DIR=target
# Last line: latency weft_p99_ms= ipsec_p99_ms= wggo_p99_ms= plain_p99_ms= (idle p99), then
#            MODE_p50_ms= MODE_p999_ms= MODE_jitter_ms= (idle) and MODE_loaded_p50_ms=
#            MODE_loaded_p99_ms= MODE_loaded_p999_ms= MODE_loaded_jitter_ms= for each mode.
set -euo pipefail
BENCH=latency
. "$(dirname "$0")/lib.sh"

if [ "$SMOKE" = 1 ]; then
  IDLE=${IDLE:-100}
  LOADED=${LOADED:-100}
  ROUNDS=${ROUNDS:-1}
else
  IDLE=${IDLE:-1000}
  LOADED=${LOADED:-1000}
  ROUNDS=${ROUNDS:-5}
fi
WGGO=${WIREGUARD_GO:-wireguard-go}
MODES=(weft ipsec wggo plain)
bench_root
bench_need iperf3 wg python3 ip ping gnuplot swanctl
for f in charon plugins/libstrongswan-kernel-libipsec.so plugins/libstrongswan-openssl.so; do
  [ -e "/usr/lib/ipsec/$f" ] && continue
  scripts/install-deps.sh bench || die "scripts/install-deps.sh bench failed"
  break
done
if [ "$WGGO" = wireguard-go ]; then
  bench_need wireguard-go
else
  command -v "$WGGO" >/dev/null || die "WIREGUARD_GO=$WGGO: not an executable"
fi

bench_bins
bench_work
OUT=$TARGET/latency
rm -rf "$OUT"
mkdir -p "$OUT/samples"

# wait_ping NS SRC DST: until DST answers from SRC, at most 15 s
wait_ping() {
  local i
  for i in $(seq 150); do
    ip netns exec "$1" ping -n -q -c 1 -W 1 -I "$2" "$3" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "$3 unreachable from $2 in $1"
}

start=$(date +%s)
LW="ltw$$" LP="ltp$$"

# --- weftd lab
lab_up "$LW" --sites 2 --uplinks 1 --agents
wait_ping "$LW-a" 10.77.1.1 10.77.2.1

# --- plain lab: underlay, wireguard-go, strongSwan
lab_up "$LP" --sites 2 --uplinks 1
IFA="wla$$" IFB="wlb$$"
wggo_pair "$LP" "$IFA" "$IFB"
wait_ping "$LP-a" 10.88.0.1 10.88.0.2

# charons: their pids go to PIDS so the EXIT trap stops them before the lab goes
ipsec_pids=$(scripts/ipsec-lab.sh up "$WORK/ipsec" "$LP-a" "$LP-b" 10.99.0.1 10.99.0.2) \
  || die "scripts/ipsec-lab.sh up failed"
for kv in $ipsec_pids; do PIDS+=("${kv#*=}"); done

# mode -> namespace, source, destination, iperf3 port
declare -A NS=([weft]=$LW-a [ipsec]=$LP-a [wggo]=$LP-a [plain]=$LP-a)
declare -A SRV=([weft]=$LW-b [ipsec]=$LP-b [wggo]=$LP-b [plain]=$LP-b)
declare -A SRC=([weft]=10.77.1.1 [ipsec]=10.99.0.1 [wggo]=10.88.0.1 [plain]=198.18.1.2)
declare -A DST=([weft]=10.77.2.1 [ipsec]=10.99.0.2 [wggo]=10.88.0.2 [plain]=198.18.2.2)
declare -A PORT=([weft]=5201 [ipsec]=5202 [wggo]=5203 [plain]=5204)
for m in "${MODES[@]}"; do
  ip netns exec "${SRV[$m]}" iperf3 -s -B "${DST[$m]}" -p "${PORT[$m]}" >/dev/null 2>&1 &
  PIDS+=($!)
done
sleep 0.5

# pings MODE PHASE COUNT: COUNT echoes every 10 ms; appends to $OUT/samples/MODE-PHASE.txt
# a line "round", then one line per echo sent: its RTT (ms), or "lost" for one that got no
# answer within 1 s
pings() {
  local m=$1 phase=$2 n=$3
  ip netns exec "${NS[$m]}" ping -n -i 0.01 -c "$n" -W 1 -I "${SRC[$m]}" "${DST[$m]}" \
    >"$WORK/ping-$m-$phase.txt" 2>&1 || true
  python3 - "$WORK/ping-$m-$phase.txt" "$n" >>"$OUT/samples/$m-$phase.txt" <<'PY'
import re, sys
print("round")
got = {int(s): t for s, t in re.findall(r"icmp_seq=(\d+) ttl=\d+ time=([0-9.]+)", open(sys.argv[1]).read())}
for seq in range(1, int(sys.argv[2]) + 1):
    print(got.get(seq, "lost"))
PY
  grep -q 'time=' "$WORK/ping-$m-$phase.txt" || die "$m $phase: no echo answered"
}

# loaded MODE COUNT: the pings while one iperf3 TCP stream runs through the same tunnel
loaded() {
  local m=$1 n=$2 secs ipid
  secs=$(( n / 100 + 2 ))
  ip netns exec "${NS[$m]}" iperf3 -c "${DST[$m]}" -B "${SRC[$m]}" -p "${PORT[$m]}" -t "$secs" -J \
    >"$WORK/iperf-$m.json" 2>&1 &
  ipid=$!
  sleep 0.5
  pings "$m" loaded "$n"
  wait "$ipid" || { cat "$WORK/iperf-$m.json" >&2; die "iperf3 through $m failed"; }
  python3 -c 'import json,sys; print("%.3f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]/1e9))' \
    "$WORK/iperf-$m.json" >>"$OUT/samples/$m-gbps.txt"
}

echo "RTT: $IDLE pings idle and $LOADED under one iperf3 TCP stream per mode, every 10 ms, in $ROUNDS rounds"
for r in $(seq "$ROUNDS"); do
  for m in "${MODES[@]}"; do pings "$m" idle $(( IDLE / ROUNDS )); done
  for m in "${MODES[@]}"; do loaded "$m" $(( LOADED / ROUNDS )); done
done
ip netns exec "$LP-a" ping -n -q -c 1 -W 1 -I 10.99.0.1 10.99.0.2 >/dev/null \
  || die "the IPsec tunnel went down during the run"

# the table, the plot's data and the figures of the last line
python3 - "$OUT" "${MODES[@]}" >"$WORK/figures.txt" <<'PY'
import math, sys
out, modes = sys.argv[1], sys.argv[2:]
def load(name):
    """RTTs per round (lost echoes left out) and the number lost"""
    rounds, lost = [], 0
    for row in open(f"{out}/samples/{name}.txt"):
        row = row.strip()
        if row == "round":
            rounds.append([])
        elif row == "lost":
            lost += 1
        else:
            rounds[-1].append(float(row))
    return rounds, lost
def rank(s, p):
    return s[max(0, math.ceil(p * len(s)) - 1)]
def stats(name):
    rounds, lost = load(name)
    t = [x for r in rounds for x in r]
    s = sorted(t)
    # jitter: consecutive echoes of the same round
    d = [abs(b - a) for r in rounds for a, b in zip(r, r[1:])]
    jit = sum(d) / max(1, len(d))
    return {"p50": rank(s, 0.5), "p99": rank(s, 0.99), "p999": rank(s, 0.999),
            "jitter": jit, "n": len(t), "lost": lost}
label = {"weft": "weftd (WireGuard)", "ipsec": "strongSwan IPsec (libipsec)",
         "wggo": "wireguard-go", "plain": "plain underlay"}
md = ["# RTT through each tunnel (ms)", "",
      "| mode | phase | p50 | p99 | p99.9 | jitter | echoes | lost | load Gbit/s |",
      "|---|---|---|---|---|---|---|---|---|"]
dat, figs = [], {}
for m in modes:
    g = [float(x) for x in open(f"{out}/samples/{m}-gbps.txt").read().split()]
    gbps = f"{sorted(g)[len(g) // 2]:.3f}"
    for ph in ("idle", "loaded"):
        st = stats(f"{m}-{ph}")
        md.append(f"| {label[m]} | {ph} | {st['p50']:.3f} | {st['p99']:.3f} | {st['p999']:.3f} "
                  f"| {st['jitter']:.3f} | {st['n']} | {st['lost']} | {gbps if ph == 'loaded' else ''} |")
        pre = m if ph == "idle" else f"{m}_loaded"
        for k in ("p50", "p99", "p999", "jitter"):
            figs[f"{pre}_{k}_ms"] = f"{st[k]:.3f}"
        figs.setdefault(m, {})[ph] = st
    i, l = figs[m]["idle"], figs[m]["loaded"]
    dat.append(f"\"{m}\" {i['p50']:.4f} {i['p99']:.4f} {l['p50']:.4f} {l['p99']:.4f}")
table = md[2:]
md += ["", "jitter: mean |difference| of consecutive RTTs; percentiles by nearest rank;",
       "loaded: while one iperf3 TCP stream a -> b runs through the same tunnel",
       "(load Gbit/s: its median over the rounds)."]
open(f"{out}/latency.md", "w").write("\n".join(md) + "\n")
open(f"{out}/latency.dat", "w").write("\n".join(dat) + "\n")
print("\n".join(table), file=sys.stderr)
first = [f"{m}_p99_ms={figs[m + '_p99_ms']}" for m in ("weft", "ipsec", "wggo", "plain")]
rest = [f"{k}={v}" for k, v in figs.items() if isinstance(v, str) and k not in
        {m + "_p99_ms" for m in modes}]
print(" ".join(first + rest))
PY

gnuplot <<EOF || die "gnuplot failed"
set terminal pngcairo size 900,520 noenhanced
set output "$OUT/latency.png"
set title "RTT per tunnel, idle and under one TCP stream (ms, log scale)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set yrange [0.01:*]
set ylabel "RTT (ms)"
set grid ytics
set key top left
plot "$OUT/latency.dat" using 2:xtic(1) title "idle p50", \
     "" using 3 title "idle p99", "" using 4 title "loaded p50", "" using 5 title "loaded p99"
EOF
[ -s "$OUT/latency.png" ] || die "no plot written"
echo "table: $OUT/latency.md  plot: $OUT/latency.png"
echo "runtime: $(( $(date +%s) - start )) s"

scripts/ipsec-lab.sh down "$WORK/ipsec"
# shellcheck disable=SC2046
bench_result latency $(cat "$WORK/figures.txt")
