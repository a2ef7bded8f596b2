#!/usr/bin/env bash
# make demo: a live lab of 3 sites × 2 uplinks running weftd.
#   - every site peers with every other over all uplinks (4 paths per peer);
#   - traffic flows (ping = interactive class, a 50 packets/s "voice" stream to
#     udp/5060 = realtime class);
#   - a live view of site a's paths (`weft paths`: state, RTT, jitter, loss, classes);
#   - a scripted failover: site a's fiber uplink is cut; flows move; the
#     interruption seen by the ping is printed; then the fiber returns and flows
#     fail back after the hold-down;
#   - policy as code: a policy checked offline, one whose own test fails refused
#     by the agent, then one applied that keeps voice off LTE and closes a port;
#   - the operator surfaces: weft status, ping per uplink, explain, events, metrics;
#   - clean teardown (also on Ctrl-C or error).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "demo: needs root (network namespaces)" >&2; exit 1; }

TARGET=${CARGO_TARGET_DIR:-target}
LAB=${LAB:-demo}
cargo build --release --locked -q -p weft -p weftd
WEFT=$TARGET/release/weft
export WEFTD=$TARGET/release/weftd
TMP=${DEMO_TMP:-$(mktemp -d)}
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -z "${DEMO_TMP:-}" ] || cp -r "/run/weft-lab/$LAB/agents" "$TMP/" 2>/dev/null || true
  "$WEFT" lab down --name "$LAB" >/dev/null 2>&1 || true
  [ -n "${DEMO_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
"$WEFT" lab down --name "$LAB" >/dev/null 2>&1 || true

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ex() { "$WEFT" lab exec "$1" --name "$LAB" -- "${@:2}"; }

say "Building a lab: 3 sites (a, b, c) x 2 uplinks (u0 = fiber, u1 = lte), weftd in each"
"$WEFT" lab up --sites 3 --uplinks 2 --agents --name "$LAB" | grep -E '^agent'
# Make the uplinks look like real WANs: fiber 5 ms, LTE 25 ms with jitter, each way.
for s in a b c; do
  "$WEFT" lab link "$s:0" --delay 5ms --name "$LAB" >/dev/null
  "$WEFT" lab link "$s:1" --delay 25ms --jitter 3ms --name "$LAB" >/dev/null
done
LOGS=/run/weft-lab/$LAB/agents

# The CLI talks to site a's agent over its API socket (a file: reachable from here).
export WEFT_SOCKET=$LOGS/a-state/api.sock
view() {
  "$WEFT" paths | sed 's/^/  /'
}

say "Traffic: ping a -> b (interactive), a 50 pkt/s voice stream a -> c on udp/5060 (realtime)"
ex a ping -D -i 0.01 -w 40 10.77.2.1 > "$TMP/ping.txt" 2>&1 &
PIDS+=($!)
ex a python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
end = time.time() + 40
while time.time() < end:
    try:
        s.sendto(b"voice" * 32, ("10.77.3.1", 5060))
    except OSError:  # the lab is being torn down
        break
    time.sleep(0.02)
' &
PIDS+=($!)
sleep 3
say "Live view of site a's paths (probed every 100 ms while busy, 20 ms for realtime)"
for i in 1 2; do view; sleep 1.5; done

say "Cutting site a's fiber uplink (a:u0) with traffic running"
CUT=$(date +%s.%N)
"$WEFT" lab link a:0 --down --name "$LAB"
sleep 2.5
echo "  what site a's agent said:"
grep -E 'fiber|u0' "$LOGS/a.log" | grep -E 'down|class' | sed 's/^/    /' | tail -8
view
python3 - "$TMP/ping.txt" "$CUT" <<'PY'
import re, sys
times = [float(m.group(1)) for m in re.finditer(r"^\[(\d+\.\d+)\]", open(sys.argv[1]).read(), re.M)]
cut = float(sys.argv[2])
window = [t for t in times if cut - 0.5 <= t <= cut + 2.5]
gaps = [(b - a, a) for a, b in zip(window, window[1:])]
if gaps:
    gap, at = max(gaps)
    print(f"\n  ping a -> b every 10 ms: longest silence around the cut {1000*gap:.0f} ms "
          f"(from {1000*(at-cut):+.0f} ms relative to the cut command)")
PY

say "Fiber back: flows return after the 5 s hold-down (no flapping)"
"$WEFT" lab link a:0 --up --name "$LAB"
sleep 7
grep -E 'class' "$LOGS/a.log" | tail -4 | sed 's/^/    /'
view

say "Policy as code: voice never on LTE, udp/9000 to site c closed"
cat > "$TMP/policy.toml" <<'TOML'
[policy]
name = "demo"
default = "allow"

[apps.voice]
protocol = "udp"
ports = "5060-5061"

[[route]]
name = "voice-off-lte"
app = "voice"
class = "realtime"
exclude_uplinks = ["u1"]

[[acl]]
name = "close-c-9000"
action = "deny"
to = "10.77.3.0/24"
protocol = "udp"
ports = 9000

[[test]]
name = "voice never uses lte"
app = "voice"
class = "realtime"
never_via = ["u1"]

[[test]]
name = "c's port 9000 is closed"
to = "10.77.3.1"
protocol = "udp"
ports = 9000
expect = "deny"
TOML
"$WEFT" policy test "$TMP/policy.toml" | sed 's/^/    /'
sed 's|^to = "10.77.3.0/24"$|to = "10.77.2.0/24"|' "$TMP/policy.toml" > "$TMP/broken.toml"
echo "  a variant that closes the port on the wrong site, applied to site a:"
"$WEFT" policy apply "$TMP/broken.toml" 2>&1 | sed 's/^/    /' || true
echo "  the real one:"
"$WEFT" policy apply "$TMP/policy.toml" | sed 's/^/    /'
ex a python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(20): s.sendto(b"x", ("10.77.3.1", 9000))
'
sleep 0.5
"$WEFT" policy show | sed 's/^/    /'
view

say "Operator surfaces: the agent's API through the weft CLI (also REST, SSE, /metrics)"
echo "  weft status:"
"$WEFT" status | sed 's/^/    /'
echo "  weft ping c (a burst of probes on every path, per uplink):"
"$WEFT" ping c --probes 5 | sed 's/^/    /'
echo "  weft explain udp 10.77.1.1 10.77.3.1:5060 (why voice to c takes the path it takes):"
"$WEFT" explain udp 10.77.1.1 10.77.3.1:5060 | sed 's/^/    /'
echo "  weft events (the last few of the stored, resumable event stream):"
"$WEFT" events | tail -n 6 | sed 's/^/    /'
echo "  /metrics (Prometheus; promtool check metrics passes):"
curl -s --unix-socket "$WEFT_SOCKET" http://weft/metrics | grep -E '^weft_(path_rtt_seconds_count|failovers_total)' | head -n 4 | sed 's/^/    /'

say "wg show on site a (weftd speaks the WireGuard UAPI)"
ex a wg show "$(ex a ip -o link show type tun | awk -F': ' 'NR==1{print $2}')" | sed 's/^/    /'

say "Zero-touch mesh: a second lab, 4 sites x 2 uplinks, no static peers"
"$WEFT" lab down --name "$LAB" >/dev/null 2>&1 || true
MLAB=${LAB}-mesh
cleanup_mesh() { "$WEFT" lab down --name "$MLAB" >/dev/null 2>&1 || true; }
trap 'cleanup_mesh; cleanup' EXIT INT TERM
cleanup_mesh
echo "  site a gets a mesh CA (weft ca init) and mints one join token; b, c and d start with"
echo "  weftd --join TOKEN --seed <a>:7946 and nothing else:"
"$WEFT" lab up --sites 4 --uplinks 2 --agents --mesh --name "$MLAB" | grep -E '^(mesh|agent)' | sed 's/^/    /'
MLOGS=/run/weft-lab/$MLAB/agents
export WEFT_SOCKET=$MLOGS/a-state/api.sock
sleep 2
echo "  what site a sees (weft mesh):"
"$WEFT" mesh | sed 's/^/    /'
echo "  what site b learnt by itself (weft sites, on b):"
"$WEFT" sites --socket "$MLOGS/b-state/api.sock" | sed 's/^/    /'
echo "  d, enrolled by a, as every other agent logged it:"
grep -h "peer d joined" "$MLOGS"/[abc].log | sed 's/^/    /'

echo "  every a<->c WireGuard path cut (nftables in a): a relays to c through another site"
C_ADDRS=$("$WEFT" lab exec c --name "$MLAB" -- ip -4 -o addr show \
  | awk '$4 ~ /^198[.]18[.]/ { split($4, a, "/"); printf "%s%s", sep, a[1]; sep = ", " }')
"$WEFT" lab exec a --name "$MLAB" -- nft "table inet demo_cut { chain o { type filter hook output priority 0; ip daddr { $C_ADDRS } udp dport 51820 drop; }; chain i { type filter hook input priority 0; ip saddr { $C_ADDRS } udp sport 51820 drop; }; }"
sleep 3
"$WEFT" routes | sed 's/^/    /'
"$WEFT" lab exec a --name "$MLAB" -- ping -c 3 -i 0.2 -W 1 10.77.3.1 | tail -n 2 | sed 's/^/    /'
"$WEFT" lab exec a --name "$MLAB" -- nft delete table inet demo_cut
echo "  paths restored: back on the direct paths after the 3 s hold-down"
sleep 5
"$WEFT" routes | grep -E '10.77.3' | sed 's/^/    /'

echo "  weft cert revoke d: every agent drops it at once, and it cannot rejoin"
"$WEFT" cert revoke d | sed 's/^/    /'
sleep 1
"$WEFT" sites --socket "$MLOGS/b-state/api.sock" | sed 's/^/    /'
cleanup_mesh

say "HA control plane: 3 controllers on a 3-member etcd (one member in each of a, b, c), d and e join"
HLAB=${LAB}-ha
cleanup_ha() { "$WEFT" lab down --name "$HLAB" >/dev/null 2>&1 || true; }
trap 'cleanup_ha; cleanup_mesh; cleanup' EXIT INT TERM
cleanup_ha
"$WEFT" lab up --sites 5 --uplinks 1 --agents --mesh --controllers 3 --name "$HLAB" | grep -E '^(mesh|etcd|agent)' | sed 's/^/    /'
HLOGS=/run/weft-lab/$HLAB/agents
sock() { echo "$HLOGS/$1-state/api.sock"; }
sleep 2
leader_of() { "$WEFT" control status --json --socket "$(sock "$1")" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("leader") or "-")'; }
LEADER=$(leader_of a)
echo "  weft control status on the leader ($LEADER):"
"$WEFT" control status --socket "$(sock "$LEADER")" | sed 's/^/    /'
cat >"$TMP/mesh-policy.toml" <<'POLICY'
[policy]
name = "mesh-wide"
default = "allow"

[[acl]]
name = "no-telnet"
action = "deny"
protocol = "tcp"
ports = 23
to = "10.77.0.0/16"

[[test]]
name = "telnet is closed"
to = "10.77.5.1"
protocol = "tcp"
ports = 23
expect = "deny"
POLICY
FOLLOWER=a; [ "$LEADER" = a ] && FOLLOWER=b
echo "  weft policy apply on $FOLLOWER (not the leader): queued in etcd, published by $LEADER to every site"
"$WEFT" policy apply "$TMP/mesh-policy.toml" --socket "$(sock "$FOLLOWER")" | sed 's/^/    /'
sleep 1
"$WEFT" policy status --socket "$(sock "$FOLLOWER")" | sed 's/^/    /'
echo "  kill -9 the leader's weftd: another controller leads within about 2.5 s, sites keep their policy"
LPID=$(pgrep -f "weftd --config $HLOGS/$LEADER.toml" | head -n 1)
kill -9 "$LPID"
sleep 3.5
NEW=$(leader_of "$FOLLOWER")
echo "    new leader: $NEW"
"$WEFT" shards status --socket "$(sock "$FOLLOWER")" | head -n 5 | sed 's/^/    /'
cleanup_ha

say "Done; tearing the lab down"
