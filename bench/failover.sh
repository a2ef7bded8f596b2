#!/usr/bin/env bash
# Failover time of weftd for a best-effort flow when the active uplink is cut.
#
# A 2-site x 2-uplink lab with agents per mode (default timers: --probe-interval adaptive;
# fast probes: --probe-interval fast). A steady UDP stream of 1000 datagrams/s runs from
# site a (10.77.1.1) to site b (10.77.2.1:9000, best-effort class) through the overlay.
# Each trial reads site a's GET /api/v1/paths (over the agent's unix socket,
# STATE_DIR/api.sock), cuts the uplink of the path active for "best-effort"
# (weft lab link a:N --down), waits for the stream to flow again, restores the uplink and
# waits for failback (the path coming back as active, at most FAILBACK_WAIT s; the
# hold-down is 5 s). The failover time of a trial is the largest inter-arrival gap at the
# receiver from 0.5 s before the cut to the restore.
# p50 and p99 over TRIALS trials per mode (nearest rank: with 10 samples p99 = max).
#
# Usage: sudo bench/failover.sh     (needs root, python3, curl, iproute2)
#        SMOKE=1 WEFT_BIN=target/debug bench/failover.sh   1 trial per mode, ~30 s; fails
#                                      if the stream does not resume after the cut
# Env:   TRIALS=10 FAILBACK_WAIT=7 WEFT_BIN=<dir with weft, weftd> CARGO_TARGET_DIR=target
# Last line: failover p50_ms=A p99_ms=B fast_p50_ms=C fast_p99_ms=D trials=N
set -euo pipefail
BENCH=failover
. "$(dirname "$0")/lib.sh"

if [ "$SMOKE" = 1 ]; then
  TRIALS=${TRIALS:-1}
  FAILBACK_WAIT=${FAILBACK_WAIT:-1}
else
  TRIALS=${TRIALS:-10}
  FAILBACK_WAIT=${FAILBACK_WAIT:-7}
fi
PORT=9000
bench_root
bench_need python3 curl ip
bench_bins
bench_work
UDP=bench/udpstream.py

now() { python3 "$UDP" now; }

# paths LAB -> "<uplink of the best-effort path to b or -> <number of paths up>/<number of paths>"
paths() {
  curl -sf --max-time 2 --unix-socket "/run/weft-lab/$1/agents/a-state/api.sock" \
    "http://weft/api/v1/paths?limit=1000" 2>/dev/null | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except Exception:
    print("- 0/0"); sys.exit()
ps = [p for p in d.get("items", []) if p.get("site") == "b"]
act = [p["uplink"] for p in ps if "best-effort" in (p.get("active_for") or [])]
up = sum(1 for p in ps if p.get("state") == "up")
print(act[0] if act else "-", f"{up}/{len(ps)}")' || echo "- 0/0"
}

# wait_paths LAB TIMEOUT -> prints the active best-effort uplink once all paths are up
wait_paths() {
  local lab=$1 end active ups
  end=$(( $(date +%s%N) + $2 * 1000000000 ))
  while :; do
    read -r active ups < <(paths "$lab")
    if [ "$active" != "-" ] && [ "${ups%/*}" = "${ups#*/}" ] && [ "${ups#*/}" != 0 ]; then
      echo "$active"; return 0
    fi
    [ "$(date +%s%N)" -lt "$end" ] || { echo "$active $ups"; return 1; }
    sleep 0.1
  done
}

EVENTS=$WORK/events
: >"$EVENTS"

# run_mode MODE PROBE_INTERVAL
run_mode() {
  local mode=$1 probe=$2 lab="fo$$${1:0:1}"
  local log=$WORK/recv-$mode.log
  lab_up "$lab" --sites 2 --uplinks 2 --agents --probe-interval "$probe"
  local st
  st=$(wait_paths "$lab" 20) || die "$mode: paths of lab $lab did not all come up (active, up/all: $st)"
  : >"$log"
  ip netns exec "$lab-b" python3 "$UDP" recv --bind "10.77.2.1:$PORT" --log "$log" &
  PIDS+=($!)
  local recv=$!
  sleep 0.3
  ip netns exec "$lab-a" python3 "$UDP" send --src 10.77.1.1 --dst "10.77.2.1:$PORT" --rate 1000 &
  PIDS+=($!)
  local send=$!
  sleep 1
  local t_idle
  t_idle=$(now)
  sleep 1.5
  [ -s "$log" ] || die "$mode: no datagram reached site b"
  # the noise floor: largest gap over 1.5 s with nothing cut
  echo "$mode-idle 0 - $t_idle $(now) $(now)" >>"$EVENTS"
  local trial active idx t_cut t_restore t_next end fb
  for trial in $(seq "$TRIALS"); do
    active=$(wait_paths "$lab" 15) || die "$mode trial $trial: paths not all up before the cut ($active)"
    idx=${active#u}
    t_cut=$(now)
    "$WEFT" lab link "a:$idx" --down --name "$lab" >/dev/null
    if ! python3 "$UDP" wait-resume --log "$log" --since "$t_cut" --timeout 10; then
      [ "$SMOKE" = 1 ] && die "$mode trial $trial: stream did not resume within 10 s of cutting a:u$idx"
      echo "$mode trial $trial: stream did not resume within 10 s of cutting a:u$idx" >&2
    fi
    sleep 0.3
    t_restore=$(now)
    "$WEFT" lab link "a:$idx" --up --name "$lab" >/dev/null
    # failback: until the restored uplink carries best-effort again, at most FAILBACK_WAIT s
    end=$(( $(date +%s%N) + FAILBACK_WAIT * 1000000000 ))
    fb=no
    while [ "$(date +%s%N)" -lt "$end" ]; do
      read -r active _ < <(paths "$lab")
      if [ "$active" = "u$idx" ]; then fb=yes; break; fi
      sleep 0.1
    done
    sleep 0.3
    t_next=$(now)
    echo "$mode $trial u$idx $t_cut $t_restore $t_next" >>"$EVENTS"
    awk -v c="$t_cut" -v r="$t_restore" -v n="$t_next" -v fb="$fb" -v m="$mode" -v t="$trial" -v u="$idx" \
      'BEGIN {printf "  %s trial %d: cut a:u%d, restored after %.2f s, failback %s after %.2f s\n", m, t, u, r-c, fb, n-r}' >&2
  done
  sleep 0.2
  kill "$send" "$recv" 2>/dev/null || true
  wait "$send" "$recv" 2>/dev/null || true
  grep -h . "/run/weft-lab/$lab/agents/a.log" 2>/dev/null | tail -n 3 | sed "s/^/  [$mode agent a log] /" >&2 || true
  lab_down "$lab"
}

start=$(date +%s)
echo "failover: $TRIALS trials per mode, UDP 1000 pkt/s a -> b (best-effort), cut the active uplink of a" >&2
run_mode default adaptive
run_mode fast fast

# gaps -> "mode trial uplink gap_ms lost failback_gap_ms"
RESULTS=$WORK/results
for mode in default fast; do
  python3 "$UDP" gaps --log "$WORK/recv-$mode.log" --events <(grep -E "^$mode(-idle)? " "$EVENTS")
done >"$RESULTS"
echo "per trial (mode trial uplink_cut gap_ms lost_datagrams failback_gap_ms):"
sed 's/^/  /' "$RESULTS"

# pct MODE COLUMN P -> nearest-rank percentile of that column
pct() {
  awk -v m="$1" '$1 == m {print $'"$2"'}' "$RESULTS" | sort -g \
    | awk -v p="$3" 'NF {v[++n]=$1} END {if (!n) exit; r=int(p/100*n); if (r<p/100*n) r++; if (r<1) r=1; printf "%.1f", v[r]}'
}
n=$(awk '$1 == "default"' "$RESULTS" | wc -l)
nf=$(awk '$1 == "fast"' "$RESULTS" | wc -l)
[ "$nf" -lt "$n" ] && n=$nf
[ "$n" -gt 0 ] || die "no trial results"
echo "noise floor (largest gap over 1.5 s, nothing cut) ms: default $(pct default-idle 4 100), fast $(pct fast-idle 4 100)"
echo "failback gap p50/max ms: default $(pct default 6 50)/$(pct default 6 100), fast $(pct fast 6 50)/$(pct fast 6 100)"
echo "runtime: $(( $(date +%s) - start )) s"
bench_result failover "p50_ms=$(pct default 4 50)" "p99_ms=$(pct default 4 99)" \
  "fast_p50_ms=$(pct fast 4 50)" "fast_p99_ms=$(pct fast 4 99)" "trials=$n"
