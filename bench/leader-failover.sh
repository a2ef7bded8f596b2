#!/usr/bin/env bash
# Control-plane leader failover on a real 3-member etcd cluster (loopback ports of
# its own) with three `weft-controller` processes. $KILLS times: let the leader
# publish fenced heartbeats for a while, kill -9 it, time until another controller
# is elected (from the kill to the winner's "elected" line), and start a
# replacement controller so three stay up.
#
# Figures:
#   p50_ms / p99_ms   kill -9 → new leader elected, over the kills
#   lost              heartbeats acknowledged to their leader ("published") whose
#                     revision does not hold that value in etcd's history
#   duplicated        (epoch, seq) pairs written at two revisions
#   unfenced_writes   heartbeats of an epoch that landed after a newer epoch was elected
#   stale_accepted    publications an agent would have taken from an older epoch than
#                     one it had already seen (an epoch guard over the acknowledged
#                     sequence, in revision order)
#
# Usage: bench/leader-failover.sh   (no root needed; etcd from scripts/install-deps.sh)
#        SMOKE=1 WEFT_BIN=target/debug bench/leader-failover.sh   2 kills
# Env:   KILLS=10 WEFT_BIN=<dir with weft-controller>
# Last line: leader_failover p50_ms=X p99_ms=Y kills=N lost=L duplicated=D
#            unfenced_writes=U stale_accepted=S
set -euo pipefail
BENCH=leader-failover
. "$(dirname "$0")/lib.sh"

if [ "$SMOKE" = 1 ]; then KILLS=${KILLS:-2}; else KILLS=${KILLS:-10}; fi
bench_need etcd python3 curl

if [ -n "${WEFT_BIN:-}" ]; then
  case $WEFT_BIN in /*) CTL=$WEFT_BIN/weft-controller ;; *) CTL=$BENCH_CALLER_PWD/$WEFT_BIN/weft-controller ;; esac
else
  cargo build --release -q -p weft-etcd || die "cargo build --release -p weft-etcd failed"
  CTL=$TARGET/release/weft-controller
fi
[ -x "$CTL" ] || die "no weft-controller at $CTL"
bench_work

base=$((30000 + ($$ % 500) * 10))
cluster=""
endpoints=""
for i in 0 1 2; do
  cluster+="${cluster:+,}m$i=http://127.0.0.1:$((base + 3 + i))"
  endpoints+="${endpoints:+,}127.0.0.1:$((base + i))"
done
for i in 0 1 2; do
  etcd --name "m$i" --data-dir "$WORK/m$i" \
    --listen-client-urls "http://127.0.0.1:$((base + i))" --advertise-client-urls "http://127.0.0.1:$((base + i))" \
    --listen-peer-urls "http://127.0.0.1:$((base + 3 + i))" --initial-advertise-peer-urls "http://127.0.0.1:$((base + 3 + i))" \
    --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token weft-bench \
    --logger zap --log-outputs stderr 2>"$WORK/etcd-m$i.log" &
  PIDS+=($!)
done
for _ in $(seq 100); do
  curl -sf -m 1 -X POST "http://127.0.0.1:$base/v3/kv/range" -d '{"key":"eA=="}' >/dev/null && break
  sleep 0.2
done
curl -sf -m 1 -X POST "http://127.0.0.1:$base/v3/kv/range" -d '{"key":"eA=="}' >/dev/null || die "etcd did not come up"

EVENTS=$WORK/events.jsonl
: >"$EVENTS"
declare -A CTL_PID
start_ctl() {
  "$CTL" --endpoints "$endpoints" --id "$1" --publish-every 50 >>"$EVENTS" 2>>"$WORK/ctl-$1.log" &
  CTL_PID[$1]=$!
  PIDS+=($!)
}
for c in c1 c2 c3; do start_ctl "$c"; done

# last_elected: "t_ms id epoch" of the newest election line
last_elected() { grep '"event":"elected"' "$EVENTS" | tail -1 | python3 -c 'import json,sys
l=sys.stdin.read().strip()
if l: v=json.loads(l); print(v["t_ms"], v["id"], v["epoch"])'; }

wait_elected_after() { # t_ms → prints "t_ms id epoch" of the first election after it
  local after=$1 line
  for _ in $(seq 100); do
    line=$(grep '"event":"elected"' "$EVENTS" | python3 -c 'import json,sys
after=int(sys.argv[1])
for l in sys.stdin:
    v=json.loads(l)
    if v["t_ms"]>after: print(v["t_ms"], v["id"], v["epoch"]); break' "$after")
    [ -n "$line" ] && { echo "$line"; return 0; }
    sleep 0.1
  done
  return 1
}

first=$(wait_elected_after 0) || die "no leader elected"
read -r _ leader _ <<<"$first"
KILLTIMES=$WORK/kills.txt
: >"$KILLTIMES"
for k in $(seq "$KILLS"); do
  sleep 1
  t=$(date +%s%3N)
  kill -9 "${CTL_PID[$leader]}"
  wait "${CTL_PID[$leader]}" 2>/dev/null || true
  next=$(wait_elected_after "$t") || die "kill $k: no new leader within 10 s"
  read -r te leader _ <<<"$next"
  echo "$((te - t))" >>"$KILLTIMES"
  say "kill $k: new leader $leader after $((te - t)) ms"
  start_ctl "r$k"
done
sleep 1

python3 - "$EVENTS" "$KILLTIMES" "127.0.0.1:$base" "$KILLS" >"$WORK/figures" <<'EOF'
import base64, json, sys, urllib.request
events_path, kills_path, ep, kills = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
events = [json.loads(l) for l in open(events_path) if l.strip()]
times = sorted(int(l) for l in open(kills_path) if l.strip())
def pct(p):
    return times[min(len(times) - 1, int(round(p / 100 * (len(times) - 1))))]
published = [e for e in events if e["event"] == "published"]
key = base64.b64encode(b"/weft/control/heartbeat").decode()
def value_at(rev):
    req = urllib.request.Request(f"http://{ep}/v3/kv/range", data=json.dumps({"key": key, "revision": str(rev)}).encode())
    v = json.load(urllib.request.urlopen(req, timeout=5))
    kvs = v.get("kvs") or []
    if not kvs or int(kvs[0].get("mod_revision", 0)) != rev:
        return None
    return base64.b64decode(kvs[0]["value"]).decode()
lost = sum(1 for e in published if value_at(e["revision"]) != f'{e["id"]} {e["epoch"]} {e["seq"]}')
seen = {}
for e in published:
    seen.setdefault((e["epoch"], e["seq"], e["id"]), set()).add(e["revision"])
duplicated = sum(1 for revs in seen.values() if len(revs) > 1)
elected = sorted((e["t_ms"], e["epoch"]) for e in events if e["event"] == "elected")
unfenced = 0
for e in published:
    if any(t < e["t_ms"] and ep2 > e["epoch"] for t, ep2 in elected):
        unfenced += 1
newest = 0
stale = 0
for e in sorted(published, key=lambda e: e["revision"]):
    if e["epoch"] < newest:
        stale += 1
    newest = max(newest, e["epoch"])
print(f"p50_ms={pct(50)} p99_ms={pct(99)} kills={len(times)} lost={lost} duplicated={duplicated} unfenced_writes={unfenced} stale_accepted={stale}")
EOF
# shellcheck disable=SC2046
bench_result leader_failover $(cat "$WORK/figures")
