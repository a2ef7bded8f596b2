#!/usr/bin/env bash
# Latency of weftd's REST API on big lists: GET /api/v1/paths?limit=1000 and
# GET /api/v1/sites?limit=1000 with 1000 records each.
#   - One agent in a namespace of its own (weftapi<pid>): 1 uplink on a veth (198.18.0.1),
#     1000 static peers p0000..p0999 with one endpoint each (198.19.x.y:51820, routed into
#     the veth to a MAC nobody has: probes go nowhere, paths stay init/down) and a
#     /32 each (10.200.x.y) -> 1000 paths and 1001 sites (with the local one). Peer keys:
#     `weft genkey | weft pubkey` per peer.
#   - A read token created over the unix socket; wrk (Bearer header, --latency) over TCP
#     127.0.0.1:7420 inside the namespace: -t2 -c10 for $DURATION s, then -t1 -c1 for
#     $DURATION s, per endpoint. Any non-2xx answer or socket error fails the run.
# p50/p99 are wrk's own latency percentiles (its HdrHistogram of every request); req/s is wrk's.
# On 2 cores wrk and the agent share the CPU: the figures are for this machine as a whole.
#
# Usage: sudo bench/api.sh   (needs root, curl, python3, iproute2; wrk comes from
#        scripts/install-deps.sh bench when missing)
#        SMOKE=1 WEFT_BIN=target/debug bench/api.sh   20 peers, wrk runs of 1 s
# Env:   DURATION=10 PEERS=1000 WEFT_BIN=<dir with weft, weftd> CARGO_TARGET_DIR=target
# Last line: api paths_p50_ms=A paths_p99_ms=B paths_rps=C paths_p99_c1_ms=D
#                sites_p50_ms=E sites_p99_ms=F sites_rps=G sites_p99_c1_ms=H
set -euo pipefail
BENCH=api
. "$(dirname "$0")/lib.sh"

if [ "$SMOKE" = 1 ]; then
  DURATION=${DURATION:-1}
  PEERS=${PEERS:-20}
else
  DURATION=${DURATION:-10}
  PEERS=${PEERS:-1000}
fi
bench_root
[ "$PEERS" -ge 1 ] && [ "$PEERS" -le 16000 ] || die "PEERS must be 1..16000"
bench_need curl python3 ip wrk
bench_bins
bench_work
NS=weftapi$$
AGENT=
trap 'echo "api.sh: unexpected failure (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

# A run killed with SIGKILL leaves its namespace behind: remove ours whose pid is gone.
for n in $(ip netns list | awk '{print $1}'); do
  if [[ $n =~ ^weftapi([0-9]+)$ ]] && ! kill -0 "${BASH_REMATCH[1]}" 2>/dev/null; then
    echo "api.sh: removing stale namespace $n" >&2
    ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$n" 2>/dev/null || true
  fi
done

start=$(date +%s)
# --- the site config: 1 uplink, $PEERS peers -------------------------------------------------
t0=$(date +%s%N)
"$WEFT" genkey >"$WORK/hub.key"
chmod 600 "$WORK/hub.key"
{
  cat <<EOF
[site]
name = "hub"
private_key_file = "hub.key"
address = "10.77.0.1/24"
prefixes = ["10.77.0.0/24"]
interface = "wfapi$$"
state_dir = "state"

[[uplink]]
name = "u0"
bind = "198.18.0.1:51820"

EOF
  for i in $(seq 0 $(( PEERS - 1 ))); do
    pub=$("$WEFT" genkey | "$WEFT" pubkey)
    printf '[[peer]]\nname = "p%04d"\npublic_key = "%s"\nendpoints = ["198.19.%d.%d:51820"]\nprefixes = ["10.200.%d.%d/32"]\n\n' \
      "$i" "$pub" $(( i / 250 )) $(( i % 250 + 1 )) $(( i / 250 )) $(( i % 250 + 1 ))
  done
} >"$WORK/hub.toml"
keys_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "api.sh: config with $PEERS peers written in $keys_ms ms ($PEERS x weft genkey | weft pubkey)" >&2

# --- the namespace and the agent ---------------------------------------------------------------
NETNS+=("$NS")
ip netns add "$NS"
ip -n "$NS" link set lo up
# The uplink on one end of a veth pair; the peers' endpoints (198.19.0.0/16) routed to a
# gateway with a fixed MAC that nothing has: the other end drops every probe (no ARP either).
ip -n "$NS" link add v0 type veth peer name v1
ip -n "$NS" addr add 198.18.0.1/24 dev v0
ip -n "$NS" link set v0 up
ip -n "$NS" link set v1 up
ip -n "$NS" neigh add 198.18.0.2 lladdr 02:00:00:00:00:02 dev v0 nud permanent
ip -n "$NS" route add 198.19.0.0/16 via 198.18.0.2 dev v0
ip netns exec "$NS" "$WEFTD" --config "$WORK/hub.toml" </dev/null >/dev/null 2>"$WORK/weftd.log" &
AGENT=$!
PIDS+=("$AGENT")
SOCK=$WORK/state/api.sock
sock() { local p=$1; shift; curl -sS --max-time 10 --unix-socket "$SOCK" "$@" "http://weft$p"; }
total() { sock "$1" 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin).get("total", 0))' 2>/dev/null || echo 0; }
end=$(( $(date +%s) + 60 ))
while :; do
  kill -0 "$AGENT" 2>/dev/null || { cat "$WORK/weftd.log" >&2; die "weftd exited"; }
  np=$(total /api/v1/paths?limit=1) ns=$(total /api/v1/sites?limit=1)
  [ "$np" = "$PEERS" ] && [ "$ns" = $(( PEERS + 1 )) ] && break
  [ "$(date +%s)" -lt "$end" ] || { tail -n 20 "$WORK/weftd.log" >&2; die "after 60 s the agent lists $np paths and $ns sites"; }
  sleep 0.2
done
echo "api.sh: agent up in $NS: $np paths, $ns sites" >&2
TOKEN=$(sock /api/v1/tokens -f -X POST -H 'content-type: application/json' \
  -d '{"name":"bench","scope":"read"}' | python3 -c 'import json, sys; print(json.load(sys.stdin)["secret"])') \
  || die "creating a read token over the socket failed"
URL=http://127.0.0.1:7420
for ep in paths sites; do
  ip netns exec "$NS" curl -sf --max-time 10 -H "Authorization: Bearer $TOKEN" -o "$WORK/$ep.json" \
    -w '%{size_download}\n' "$URL/api/v1/$ep?limit=1000" >"$WORK/$ep.size" || die "GET /api/v1/$ep over TCP failed"
  n=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$WORK/$ep.json")
  if [ "$ep" = sites ]; then want=$(( PEERS + 1 )); else want=$PEERS; fi
  want=$(( want < 1000 ? want : 1000 ))
  [ "$n" -eq "$want" ] || die "/api/v1/$ep?limit=1000 gave $n items, expected $want"
  echo "api.sh: GET /api/v1/$ep?limit=1000: $n items, $(cat "$WORK/$ep.size") bytes" >&2
done

# wrk_run NAME THREADS CONNS URL -> "p50_ms p99_ms req_per_s" (fails on errors or non-2xx)
wrk_run() {
  local name=$1 out=$WORK/wrk-$1.txt
  ip netns exec "$NS" wrk -t"$2" -c"$3" -d"${DURATION}s" --latency --timeout 10s \
    -H "Authorization: Bearer $TOKEN" "$4" >"$out" 2>&1 || { cat "$out" >&2; die "wrk $name failed"; }
  if grep -qE 'Non-2xx|Socket errors' "$out"; then cat "$out" >&2; die "wrk $name: errors or non-2xx answers"; fi
  awk '
    function ms(v) {
      if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0
      if (v ~ /m$/) return v * 60000; if (v ~ /s$/) return v * 1000; return v
    }
    $1 == "50%" {p50 = ms($2)} $1 == "99%" {p99 = ms($2)} $1 == "Requests/sec:" {rps = $2}
    END {
      if (p50 == "" || p99 == "" || rps == "") exit 1
      printf "%.2f %.2f %.0f\n", p50, p99, rps
    }' "$out" || { cat "$out" >&2; die "could not read wrk $name output"; }
}

declare -A R
for ep in paths sites; do
  out=$(wrk_run "$ep-c10" 2 10 "$URL/api/v1/$ep?limit=1000")
  read -r p50 p99 rps <<<"$out"
  out=$(wrk_run "$ep-c1" 1 1 "$URL/api/v1/$ep?limit=1000")
  read -r _ p99c1 rpsc1 <<<"$out"
  R[$ep]="$p50 $p99 $rps $p99c1 $rpsc1"
  echo "api.sh: $ep: c10 p50 $p50 ms, p99 $p99 ms, $rps req/s; c1 p99 $p99c1 ms, $rpsc1 req/s" >&2
done
kill -0 "$AGENT" 2>/dev/null || die "weftd exited during the run"
rss=$(awk '/VmRSS/ {print $2}' "/proc/$AGENT/status" 2>/dev/null || echo 0)

echo "api summary ($PEERS peers, 1 uplink; wrk ${DURATION}s per run over TCP in the agent's namespace; weftd RSS $(( rss / 1024 )) MiB after the runs):"
printf '  %-28s %9s %9s %9s %12s %9s\n' endpoint p50_ms p99_ms req/s p99_ms_c1 req/s_c1
for ep in paths sites; do
  read -r p50 p99 rps p99c1 rpsc1 <<<"${R[$ep]}"
  printf '  %-28s %9s %9s %9s %12s %9s\n' "GET /api/v1/$ep?limit=1000" "$p50" "$p99" "$rps" "$p99c1" "$rpsc1"
done
echo "  (c10: wrk -t2 -c10; c1: wrk -t1 -c1; response sizes: paths $(cat "$WORK/paths.size") B, sites $(cat "$WORK/sites.size") B)"
echo "runtime: $(( $(date +%s) - start )) s"
read -r a b c d _ <<<"${R[paths]}"
read -r e f g h _ <<<"${R[sites]}"
bench_result api "paths_p50_ms=$a" "paths_p99_ms=$b" "paths_rps=$c" "paths_p99_c1_ms=$d" \
  "sites_p50_ms=$e" "sites_p99_ms=$f" "sites_rps=$g" "sites_p99_c1_ms=$h"
