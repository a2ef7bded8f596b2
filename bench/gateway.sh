#!/usr/bin/env bash
# The zero-trust gateway: requests per second through it, and the latency it adds
# over a direct mTLS connection through the fabric to the same backend.
#   - A 2-site x 1-uplink lab with agents (static peers). A throwaway mesh CA makes
#     the identity files (`weft identity init`), copied to both sites' STATE_DIR/zt.
#   - Site b: an echo server on 127.0.0.1:9000 (python3 asyncio) behind the
#     zero-trust sidecar of service `api` on 10.77.2.1:18443 (mTLS, SVID
#     spiffe://bench.test/svc/api). Site a: the ingress gateway `edge` on
#     10.77.1.1:8443 routing SNI api.bench.test to that sidecar over the fabric.
#     The agents are restarted with these [zerotrust] sections; identity rules
#     (client -> api, gateway -> api) come from the lab's policy.
#   - The client (weft-zt-load, built with weftd) runs in site a with its own
#     SVID (`weft identity issue`), connections reused, 64-byte request/echo:
#       gateway: client -> gateway (a) -> fabric -> sidecar (b) -> echo
#       direct:  client -> fabric -> sidecar (b) -> echo
#     Latency: one connection, closed loop, $ROUNDS interleaved rounds of
#     $DURATION s per way; the figures are the medians over the rounds of each
#     round's p50 and p99 (the tool's percentiles of every request). Throughput:
#     $CONNS connections through the gateway for $DURATION s. Any failed request
#     fails the run.
# On 2 cores the client, both agents and the echo server share the CPU.
#
# Usage: sudo bench/gateway.sh   (needs root, python3, iproute2)
#        SMOKE=1 WEFT_BIN=target/debug bench/gateway.sh   1 round of 1 s
# Env:   ROUNDS=3 DURATION=5 CONNS=8 WEFT_BIN=<dir with weft, weftd, weft-zt-load>
# Last line: gateway rps=X p50_ms=A p99_ms=B direct_p50_ms=C direct_p99_ms=D
set -euo pipefail
BENCH=gateway
. "$(dirname "$0")/lib.sh"

if [ "$SMOKE" = 1 ]; then
  ROUNDS=${ROUNDS:-1}
  DURATION=${DURATION:-1}
else
  ROUNDS=${ROUNDS:-3}
  DURATION=${DURATION:-5}
fi
CONNS=${CONNS:-8}
bench_root
bench_need python3 ip
bench_bins
LOAD=$(dirname "$WEFTD")/weft-zt-load
[ -x "$LOAD" ] || die "no weft-zt-load next to $WEFTD (cargo build -p weftd builds it)"
bench_work
trap 'echo "gateway.sh: unexpected failure (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

LAB=zg$$
cat >"$WORK/policy.toml" <<'EOF2'
[policy]
name = "gateway-bench"
default = "allow"

[[identity]]
name = "the gateway reaches api"
action = "allow"
from = "spiffe://bench.test/gateway/edge"
to = "api"

[[identity]]
name = "the bench client reaches api"
action = "allow"
from = "spiffe://bench.test/svc/client"
to = "api"
EOF2
lab_up "$LAB" --sites 2 --uplinks 1 --agents --policy "$WORK/policy.toml"
AG=/run/weft-lab/$LAB/agents

# --- identities ------------------------------------------------------------------------
"$WEFT" ca init --state-dir "$WORK/ca" >/dev/null
"$WEFT" identity init --trust-domain bench.test --state-dir "$WORK/ca" >/dev/null
for s in a b; do
  rm -rf "$AG/$s-state/zt"
  cp -a "$WORK/ca/zt" "$AG/$s-state/zt"
done
"$WEFT" identity issue spiffe://bench.test/svc/client --out "$WORK/client" --dir "$WORK/ca/zt" >/dev/null

# --- the proxies: restart both agents with [zerotrust] ----------------------------------
cat >>"$AG/a.toml" <<'EOF2'

[zerotrust]
trust_domain = "bench.test"

[[zerotrust.gateway]]
name = "edge"
listen = "10.77.1.1:8443"
[[zerotrust.gateway.route]]
host = "api.bench.test"
service = "api"
port = 18443
backends = ["10.77.2.1:18443"]
EOF2
cat >>"$AG/b.toml" <<'EOF2'

[zerotrust]
trust_domain = "bench.test"

[[zerotrust.sidecar]]
service = "api"
port = 18443
listen = "10.77.2.1:18443"
forward = "127.0.0.1:9000"
EOF2
for s in a b; do
  ip netns pids "$LAB-$s" | xargs -r kill
done
sleep 0.5
for s in a b; do
  ip netns exec "$LAB-$s" "$WEFTD" --config "$AG/$s.toml" >"$WORK/weftd-$s.log" 2>&1 &
  PIDS+=($!)
done
ip netns exec "$LAB-b" python3 -c '
import asyncio
async def echo(r, w):
    try:
        while True:
            d = await r.read(65536)
            if not d:
                break
            w.write(d)
            await w.drain()
    finally:
        w.close()
async def main():
    s = await asyncio.start_server(echo, "127.0.0.1", 9000)
    async with s:
        await s.serve_forever()
asyncio.run(main())
' &
PIDS+=($!)

load() { # WAY CONNS SECS -> the load line
  local way=$1 conns=$2 secs=$3
  case $way in
    gateway) ip netns exec "$LAB-a" "$LOAD" --connect 10.77.1.1:8443 --sni api.bench.test \
      --expect spiffe://bench.test/gateway/edge --svid "$WORK/client" --conns "$conns" --secs "$secs" ;;
    direct) ip netns exec "$LAB-a" "$LOAD" --connect 10.77.2.1:18443 --sni api \
      --expect spiffe://bench.test/svc/api --svid "$WORK/client" --conns "$conns" --secs "$secs" ;;
  esac
}

ready=0
for _ in $(seq 1 100); do
  if load gateway 1 0.2 >/dev/null 2>&1 && load direct 1 0.2 >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.2
done
[ "$ready" = 1 ] || { cat "$WORK"/weftd-*.log >&2; die "the gateway or the sidecar did not answer"; }

field() { sed -n "s/.*\b$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
check() { # LINE WHAT
  [ "$(field errors "$1")" = 0 ] || die "$2: requests failed: $1"
  say "$2: $1"
}

# Latency: interleaved single-connection rounds, medians of the rounds' percentiles.
declare -a gp50 gp99 dp50 dp99
for r in $(seq 1 "$ROUNDS"); do
  g=$(load gateway 1 "$DURATION"); check "$g" "round $r gateway"
  d=$(load direct 1 "$DURATION"); check "$d" "round $r direct"
  gp50+=("$(field p50_ms "$g")"); gp99+=("$(field p99_ms "$g")")
  dp50+=("$(field p50_ms "$d")"); dp99+=("$(field p99_ms "$d")")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

t=$(load gateway "$CONNS" "$DURATION"); check "$t" "throughput ($CONNS connections)"

bench_result gateway rps="$(field rps "$t")" \
  p50_ms="$(median "${gp50[@]}")" p99_ms="$(median "${gp99[@]}")" \
  direct_p50_ms="$(median "${dp50[@]}")" direct_p99_ms="$(median "${dp99[@]}")"
