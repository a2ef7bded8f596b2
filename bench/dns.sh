#!/usr/bin/env bash
# Queries per second and latency of weftd's authoritative DNS server (GTM) under dnsperf.
#   - One agent in a namespace of its own (weftdns<pid>): 1 uplink on a veth, the mesh CA
#     (`weft ca init`), `[controller]` on the embedded SQLite store and `[dns]` on
#     127.0.0.1:5353 (2 workers) for zone gtm.bench with a region table of 4 prefixes.
#   - One global service `app` (3 endpoints in 3 regions, all at this site: healthy, RTT 0)
#     set through the controller API, as an operator would.
#   - dnsperf (Debian) in the same namespace, over UDP, the query `app.gtm.bench A`:
#       1. unlimited, $DURATION s: the highest rate the server sustains (qps);
#       2. at RATE (default 100000) queries/s, $DURATION s: queries lost at that rate and
#          dnsperf's average latency;
#       3. at LAT_RATE (default 20000) queries/s, $DURATION s, `-v`: the latency of every
#          answer, p50 and p99 (dnsperf printing a line per answer costs it CPU on these 2
#          cores, so the per-answer run is kept below the saturating rate);
#       4. unlimited with an EDNS client subnet (198.51.100.0/24) on every query (ecs_qps).
# dnsperf and weftd share the 2 cores: the figures are this machine's as a whole.
#
# Usage: sudo bench/dns.sh   (needs root, curl, python3, iproute2, dnsperf, dig)
#        SMOKE=1 WEFT_BIN=target/debug bench/dns.sh   1 s runs at 2000 queries/s
# Env:   DURATION=10 RATE=100000 LAT_RATE=20000 WEFT_BIN=<dir with weft, weftd> CARGO_TARGET_DIR=target
# Last line: dns qps=X lost=L p50_ms=A p99_ms=B ecs_qps=Y
set -euo pipefail
BENCH=dns
. "$(dirname "$0")/lib.sh"

if [ "$SMOKE" = 1 ]; then
  DURATION=${DURATION:-1}
  RATE=${RATE:-2000}
  LAT_RATE=${LAT_RATE:-1000}
else
  DURATION=${DURATION:-10}
  RATE=${RATE:-100000}
  LAT_RATE=${LAT_RATE:-20000}
fi
bench_root
bench_need curl python3 ip dnsperf dig
bench_bins
bench_work
NS=weftdns$$
trap 'echo "dns.sh: unexpected failure (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

for n in $(ip netns list | awk '{print $1}'); do
  if [[ $n =~ ^weftdns([0-9]+)$ ]] && ! kill -0 "${BASH_REMATCH[1]}" 2>/dev/null; then
    say "removing stale namespace $n"
    ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$n" 2>/dev/null || true
  fi
done

start=$(date +%s)
"$WEFT" genkey >"$WORK/dns.key"
chmod 600 "$WORK/dns.key"
cat >"$WORK/dns.toml" <<EOT
[site]
name = "dns"
private_key_file = "dns.key"
address = "10.77.0.1/24"
interface = "wfdns$$"
state_dir = "state"

[[uplink]]
name = "u0"
bind = "198.18.0.1:51820"

[mesh]
listen = "198.18.0.1:7946"

[controller]

[dns]
listen = "127.0.0.1:5353"
zone = "gtm.bench"
workers = 2
ttl = "30s"

[[dns.region]]
name = "eu"
prefixes = ["198.51.100.0/24", "10.10.0.0/16"]

[[dns.region]]
name = "us"
prefixes = ["203.0.113.0/24", "10.20.0.0/16"]
EOT
"$WEFT" ca init --state-dir "$WORK/state" >/dev/null

NETNS+=("$NS")
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add v0 type veth peer name v1
ip -n "$NS" addr add 198.18.0.1/24 dev v0
ip -n "$NS" link set v0 up
ip -n "$NS" link set v1 up
ip netns exec "$NS" ${WEFTD_WRAP:-} "$WEFTD" --config "$WORK/dns.toml" </dev/null >/dev/null 2>"$WORK/weftd.log" &
AGENT=$!
PIDS+=("$AGENT")
SOCK=$WORK/state/api.sock
sock() { local p=$1; shift; curl -sS --max-time 10 --unix-socket "$SOCK" "$@" "http://weft$p"; }
end=$(( $(date +%s) + 30 ))
until sock /api/v1/control 2>/dev/null | grep -q '"role":"leader"'; do
  kill -0 "$AGENT" 2>/dev/null || { cat "$WORK/weftd.log" >&2; die "weftd exited"; }
  [ "$(date +%s)" -lt "$end" ] || { tail -n 20 "$WORK/weftd.log" >&2; die "the controller did not lead within 30 s"; }
  sleep 0.2
done
sock /api/v1/gtm/services/app -f -X PUT -H 'content-type: application/json' -d '{
  "endpoints": [
    {"id": "eu-1", "site": "dns", "region": "eu", "address": "192.0.2.10", "port": 80},
    {"id": "us-1", "site": "dns", "region": "us", "address": "192.0.2.20", "port": 80},
    {"id": "ap-1", "site": "dns", "region": "ap", "address": "192.0.2.30", "port": 80}
  ]}' >/dev/null || die "PUT /api/v1/gtm/services/app failed"
end=$(( $(date +%s) + 10 ))
until [ -n "$(ip netns exec "$NS" dig @127.0.0.1 -p 5353 app.gtm.bench A +short +time=1 +tries=1 2>/dev/null)" ]; do
  [ "$(date +%s)" -lt "$end" ] || { tail -n 20 "$WORK/weftd.log" >&2; die "no DNS answer for app.gtm.bench within 10 s"; }
  sleep 0.2
done
say "answering: app.gtm.bench -> $(ip netns exec "$NS" dig @127.0.0.1 -p 5353 app.gtm.bench A +short)"
printf 'app.gtm.bench A\n' >"$WORK/queries.txt"
# The operator's view through the CLI (what a run would look at), checked for content.
cli() { "$WEFT" "$@" --socket "$SOCK" >>"$WORK/cli.txt" 2>&1 || { cat "$WORK/cli.txt" >&2; die "weft $* failed"; }; }
cli gtm status
cli gtm explain app --from 198.51.100.0/24
cli shift drain --region eu --service app --step-pct 50 --step 200ms
cli shift list
cli shift abort s1
cli control audit --limit 5
for want in "ECS scope /24" "answer: 192.0.2.10 (endpoint eu-1)" "drain region eu of service app" "gtm.shift.abort s1"; do
  grep -qF "$want" "$WORK/cli.txt" || { cat "$WORK/cli.txt" >&2; die "the CLI output lacks \"$want\""; }
done
sed 's/^/dns.sh: | /' "$WORK/cli.txt" >&2

# perf NAME ARGS... -> dnsperf's summary in $WORK/NAME.txt
perf() {
  local name=$1; shift
  ip netns exec "$NS" dnsperf -s 127.0.0.1 -p 5353 -d "$WORK/queries.txt" -l "$DURATION" \
    -c 16 -T 2 -q 2000 -t 2 "$@" >"$WORK/$name.txt" 2>"$WORK/$name.err" \
    || { cat "$WORK/$name.err" >&2; die "dnsperf $name failed"; }
}
field() { awk -v k="$2" '$0 ~ k { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+$/) { print $i; exit } }' "$WORK/$1.txt"; }

perf max
qps=$(field max "Queries per second")
perf rate -Q "$RATE"
rate_qps=$(field rate "Queries per second")
lost=$(awk '/Queries lost:/ {print $3; exit}' "$WORK/rate.txt")
avg_ms=$(awk '/Average Latency/ { printf "%.3f", $4 * 1000; exit }' "$WORK/rate.txt")
perf lat -Q "$LAT_RATE" -v
lat_lost=$(awk '/Queries lost:/ {print $3; exit}' "$WORK/lat.txt")
# -v prints one line per answer: "> NOERROR app.gtm.bench A 0.000123"; the last field is seconds.
read -r p50 p99 n <<<"$(awk '$1 == ">" { print $NF * 1000 }' "$WORK/lat.txt" | sort -n \
  | awk '{ v[NR] = $1 } END { if (NR == 0) { print "x x 0"; exit }
           i50 = int(NR * 0.50 + 0.999); i99 = int(NR * 0.99 + 0.999)
           printf "%.3f %.3f %d\n", v[i50], v[i99], NR }')"
[ "$n" -gt 0 ] || die "dnsperf -v printed no per-query latencies"
perf ecs -E 8:00011800c63364
ecs_qps=$(field ecs "Queries per second")
noerror=$(grep -c NOERROR "$WORK/max.txt" || true)
[ "$noerror" -ge 1 ] || { cat "$WORK/max.txt" >&2; die "dnsperf saw no NOERROR answers"; }
kill -0 "$AGENT" 2>/dev/null || die "weftd exited during the run"
scope=$(ip netns exec "$NS" dig @127.0.0.1 -p 5353 app.gtm.bench A +subnet=198.51.100.0/24 | grep -o 'CLIENT-SUBNET: [0-9./]*' || true)
answers=$(sock /metrics | awk '/^weft_gtm_answers_total/ { s += $NF } END { print s + 0 }')

echo "dns summary (weftd [dns] with 2 workers and dnsperf -c16 -T2 sharing 2 cores; ${DURATION}s per run, UDP):"
printf '  %-36s %12s\n' "unlimited: queries/s" "$qps"
printf '  %-36s %12s\n' "at $RATE/s: queries/s achieved" "$rate_qps"
printf '  %-36s %12s\n' "at $RATE/s: queries lost" "$lost"
printf '  %-36s %12s\n' "at $RATE/s: average latency ms" "$avg_ms"
printf '  %-36s %12s %12s\n' "at $LAT_RATE/s: latency p50/p99 ms" "$p50" "$p99"
printf '  %-36s %12s\n' "at $LAT_RATE/s: queries lost" "$lat_lost"
printf '  %-36s %12s\n' "unlimited with ECS: queries/s" "$ecs_qps"
echo "  ECS answer: $scope; answers counted by weftd: $answers"
echo "runtime: $(( $(date +%s) - start )) s"
bench_result dns "qps=$qps" "lost=$lost" "p50_ms=$p50" "p99_ms=$p99" "ecs_qps=$ecs_qps"
