#!/usr/bin/env bash
# Server time of the web console's overview (`GET /ui`) for a 200-site mesh.
#   - One agent in a namespace of its own (weftcon<pid>), set up like bench/api.sh: 1 uplink
#     on a veth (198.18.0.1), SITES-1 static peers p0000.. with one endpoint each
#     (198.19.x.y:51820, routed to a MAC nobody has: probes go nowhere, paths stay init/down)
#     and a /32 each -> SITES sites on the overview (the local one and the peers).
#     Static peers are the cheapest way to 200 sites: no keys to enrol, no 200 processes.
#   - A read token created over the unix socket, logged in as the console does (the
#     `weft_console` cookie), then REQUESTS sequential `GET /ui` over TCP in the namespace.
#     Each answer carries `Server-Timing: total;dur=MS` (the server's time from the request
#     reaching the console's routes to the answer: the session check — one hashed-token lookup
#     in the store —, reading the status and the store's latest events, rendering the HTML);
#     p50/p99 are over those. (`render;dur=` beside it is the page handler alone.)
#     curl's time_total (connection and transfer included) is printed beside it.
#   - Checks every answer is 200 and lists every site (SITES rows).
#
# Usage: sudo bench/console.sh   (needs root, curl, python3, iproute2)
#        SMOKE=1 WEFT_BIN=target/debug bench/console.sh   20 requests
# Env:   SITES=200 REQUESTS=300 WEFT_BIN=<dir with weft, weftd> CARGO_TARGET_DIR=target
# Last line: console overview_p50_ms=X overview_p99_ms=Y sites=200
set -euo pipefail
BENCH=console
. "$(dirname "$0")/lib.sh"

SITES=${SITES:-200}
if [ "$SMOKE" = 1 ]; then REQUESTS=${REQUESTS:-20}; else REQUESTS=${REQUESTS:-300}; fi
bench_root
[ "$SITES" -ge 2 ] && [ "$SITES" -le 16000 ] || die "SITES must be 2..16000"
bench_need curl python3 ip
bench_bins
bench_work
NS=weftcon$$
PEERS=$(( SITES - 1 ))
trap 'echo "console.sh: unexpected failure (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

for n in $(ip netns list | awk '{print $1}'); do
  if [[ $n =~ ^weftcon([0-9]+)$ ]] && ! kill -0 "${BASH_REMATCH[1]}" 2>/dev/null; then
    say "removing stale namespace $n"
    ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$n" 2>/dev/null || true
  fi
done

start=$(date +%s)
"$WEFT" genkey >"$WORK/hub.key"
chmod 600 "$WORK/hub.key"
{
  cat <<EOC
[site]
name = "hub"
private_key_file = "hub.key"
address = "10.77.0.1/24"
prefixes = ["10.77.0.0/24"]
interface = "wfcon$$"
state_dir = "state"

[[uplink]]
name = "u0"
bind = "198.18.0.1:51820"

EOC
  for i in $(seq 0 $(( PEERS - 1 ))); do
    pub=$("$WEFT" genkey | "$WEFT" pubkey)
    printf '[[peer]]\nname = "p%04d"\npublic_key = "%s"\nendpoints = ["198.19.%d.%d:51820"]\nprefixes = ["10.200.%d.%d/32"]\n\n' \
      "$i" "$pub" $(( i / 250 )) $(( i % 250 + 1 )) $(( i / 250 )) $(( i % 250 + 1 ))
  done
} >"$WORK/hub.toml"

NETNS+=("$NS")
ip netns add "$NS"
ip -n "$NS" link set lo up
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
  ns=$(total /api/v1/sites?limit=1)
  [ "$ns" = "$SITES" ] && break
  [ "$(date +%s)" -lt "$end" ] || { tail -n 20 "$WORK/weftd.log" >&2; die "after 60 s the agent lists $ns sites"; }
  sleep 0.2
done
say "agent up in $NS: $ns sites"
TOKEN=$(sock /api/v1/tokens -f -X POST -H 'content-type: application/json' \
  -d '{"name":"bench","scope":"read"}' | python3 -c 'import json, sys; print(json.load(sys.stdin)["secret"])') \
  || die "creating a read token over the socket failed"
URL=http://127.0.0.1:7420

# Log in as a browser does: the form gives the cookie.
ip netns exec "$NS" curl -sS --max-time 10 -o /dev/null -D "$WORK/login.h" \
  --data-urlencode "token=$TOKEN" "$URL/ui/login" || die "POST /ui/login failed"
grep -qi '^set-cookie: weft_console=' "$WORK/login.h" || { cat "$WORK/login.h" >&2; die "the login set no session cookie"; }
COOKIE="weft_console=$TOKEN"

ip netns exec "$NS" curl -sS --max-time 10 -f -H "Cookie: $COOKIE" -o "$WORK/overview.html" "$URL/ui" \
  || die "GET /ui failed"
rows=$(grep -o '<tr data-site="' "$WORK/overview.html" | wc -l)
[ "$rows" -eq "$SITES" ] || die "the overview lists $rows sites, expected $SITES"
say "overview: $rows sites, $(wc -c <"$WORK/overview.html") bytes"

# REQUESTS sequential GET /ui: Server-Timing render;dur and curl's time_total per request.
: >"$WORK/times"
ip netns exec "$NS" bash -c '
  for i in $(seq 1 "$1"); do
    curl -sS --max-time 10 -o /dev/null -D - -w "total %{time_total} code %{http_code}\n" \
      -H "Cookie: $2" "$3/ui" | tr -d "\r" | awk "
        tolower(\$1) == \"server-timing:\" && \$2 ~ /^total;/ { split(\$2, a, \"dur=\"); dur = a[2] }
        \$1 == \"total\" { print dur, \$2 * 1000, \$4 }"
  done' _ "$REQUESTS" "$COOKIE" "$URL" >"$WORK/times" || die "the request loop failed"
read -r p50 p99 c50 c99 n bad <<<"$(python3 - "$WORK/times" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
bad = sum(1 for r in rows if len(r) != 3 or r[2] != "200")
srv = sorted(float(r[0]) for r in rows if len(r) == 3 and r[2] == "200")
cli = sorted(float(r[1]) for r in rows if len(r) == 3 and r[2] == "200")
def pct(v, p):
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))] if v else float("nan")
print(f"{pct(srv, 50):.2f} {pct(srv, 99):.2f} {pct(cli, 50):.2f} {pct(cli, 99):.2f} {len(rows)} {bad}")
PY
)"
[ "$n" -eq "$REQUESTS" ] || die "$n answers for $REQUESTS requests"
[ "$bad" -eq 0 ] || die "$bad answers were not 200 with a Server-Timing header"
kill -0 "$AGENT" 2>/dev/null || die "weftd exited during the run"
echo "console summary ($SITES sites, $REQUESTS sequential GET /ui over TCP in the agent's namespace):"
echo "  server time (Server-Timing total):  p50 $p50 ms, p99 $p99 ms"
echo "  client time (curl time_total):      p50 $c50 ms, p99 $c99 ms"
echo "runtime: $(( $(date +%s) - start )) s"
bench_result console "overview_p50_ms=$p50" "overview_p99_ms=$p99" "sites=$SITES"
