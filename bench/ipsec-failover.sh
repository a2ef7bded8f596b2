#!/usr/bin/env bash
# Failover of an IPsec gateway's prefix, WireGuard first: the gap of a 1 ms-spaced UDP
# stream when the WireGuard site is cut (WireGuard -> IPsec) and when it returns (back).
#
# A 3-site x 1-uplink lab with agents (--probe-interval fast). Site c is also a "cloud
# gateway": a plain strongSwan charon of its own (swanctl.conf, no Weft involved), with b's
# address 10.77.2.1 on its loopback, so 10.77.2.1 is reachable through b over WireGuard and
# through c over IPsec. Site a's agent is restarted with an [[ipsec]] gateway c
# (prefer = "wireguard", via = "b"). A UDP stream of 1000 datagrams/s runs from a
# (10.77.1.1) to 10.77.2.1:9000; b and c both receive it. Each trial cuts b's uplink
# (weft lab link b:0 --down), waits until the stream flows again (over IPsec), restores it
# and waits until a routes the prefix over WireGuard again and the stream flows there.
# gap_ms: the largest inter-arrival gap (b and c together) from 0.5 s before the cut to the
# restore; back_gap_ms: from the restore until the stream is settled on WireGuard.
# p50 over TRIALS trials (nearest rank).
#
# Usage: sudo bench/ipsec-failover.sh     (needs root, python3, curl, iproute2, strongSwan)
#        SMOKE=1 WEFT_BIN=target/debug bench/ipsec-failover.sh   1 trial, ~25 s
# Env:   TRIALS=5 WEFT_BIN=<dir with weft, weftd> CARGO_TARGET_DIR=target
# Last line: ipsec_failover gap_ms=A back_gap_ms=B trials=N
set -euo pipefail
BENCH=ipsec-failover
. "$(dirname "$0")/lib.sh"

if [ "$SMOKE" = 1 ]; then TRIALS=${TRIALS:-1}; else TRIALS=${TRIALS:-5}; fi
PORT=9000
TARGET=10.77.2.1
PREFIX=10.77.2.0/24
PSK="a bench secret that is long enough"
bench_root
bench_need python3 curl ip swanctl
[ -x /usr/lib/ipsec/charon ] || { scripts/install-deps.sh || die "strongSwan missing"; }
bench_bins
bench_work
UDP=bench/udpstream.py
now() { python3 "$UDP" now; }

LAB="ipf$$"
lab_up "$LAB" --sites 3 --uplinks 1 --agents --probe-interval fast
AG=/run/weft-lab/$LAB/agents
A_SOCK=$AG/a-state/api.sock
ipsec_field() { # FIELD -> gateway 0's FIELD from a's GET /api/v1/ipsec
  curl -sf --max-time 2 --unix-socket "$A_SOCK" http://weft/api/v1/ipsec 2>/dev/null \
    | python3 -c "import json,sys; g=json.load(sys.stdin)['gateways'][0]; print(g['$1'])" 2>/dev/null || echo -
}
wait_field() { # FIELD VALUE TIMEOUT
  local end=$(( $(date +%s%N) + $3 * 1000000000 ))
  until [ "$(ipsec_field "$1")" = "$2" ]; do
    [ "$(date +%s%N)" -lt "$end" ] || return 1
    sleep 0.05
  done
}

# The gateway: plain strongSwan in site c.
G_ADDR=$(ip -n "$LAB-c" -4 -o addr show dev u0 scope global | awk '{split($4, a, "/"); print a[1]; exit}')
A_ADDR=$(ip -n "$LAB-a" -4 -o addr show dev u0 scope global | awk '{split($4, a, "/"); print a[1]; exit}')
GW=$WORK/gateway
mkdir -p "$GW/run"
cat >"$GW/strongswan.conf" <<EOF
charon {
  load = random nonce openssl aes sha1 sha2 hmac gmp pem pkcs1 x509 pubkey kdf kernel-libipsec kernel-netlink socket-default vici
  filelog { log { path = $GW/charon.log
    default = 1 } }
  plugins { vici { socket = unix://$GW/charon.vici } }
}
swanctl { load = random nonce pem pkcs1 x509 pubkey }
EOF
cat >"$GW/swanctl.conf" <<EOF
connections {
  gw {
    version = 2
    local_addrs = $G_ADDR
    remote_addrs = $A_ADDR
    proposals = aes256gcm16-prfsha256-x25519
    encap = yes
    local { auth = psk
      id = $G_ADDR }
    remote { auth = psk
      id = $A_ADDR }
    children { gw { local_ts = $PREFIX
        remote_ts = 10.77.1.0/24
        esp_proposals = aes256gcm16 } }
  }
}
secrets { ike-gw { id-a = $G_ADDR
    id-b = $A_ADDR
    secret = "$PSK" } }
EOF
ip -n "$LAB-c" addr add "$TARGET/32" dev lo
STRONGSWAN_CONF=$GW/strongswan.conf ip netns exec "$LAB-c" unshare --mount --propagation private \
  sh -c 'mount --bind "$1" /run && exec /usr/lib/ipsec/charon --use-syslog no' sh "$GW/run" \
  >"$GW/stdout.log" 2>&1 </dev/null &
PIDS+=($!)
for _ in $(seq 100); do [ -S "$GW/charon.vici" ] && break; sleep 0.1; done
[ -S "$GW/charon.vici" ] || die "the gateway's charon did not start (log: $GW/charon.log)"
STRONGSWAN_CONF=$GW/strongswan.conf swanctl --load-all --file "$GW/swanctl.conf" \
  --uri "unix://$GW/charon.vici" >/dev/null 2>&1 || die "swanctl --load-all failed at the gateway"

# Site a's agent again, with the gateway.
for p in $(ip netns pids "$LAB-a"); do
  [ "$(cat "/proc/$p/comm" 2>/dev/null)" = weftd ] && kill "$p"
done
while ip netns pids "$LAB-a" | xargs -r -I{} cat /proc/{}/comm 2>/dev/null | grep -qx weftd; do sleep 0.1; done
echo "$PSK" >"$WORK/cloud.psk"
cat >>"$AG/a.toml" <<EOF

[[ipsec]]
name = "cloud"
remote = "$G_ADDR"
psk_file = "$WORK/cloud.psk"
remote_prefixes = ["$PREFIX"]
probe = "$TARGET"
prefer = "wireguard"
via = "b"
EOF
ip netns exec "$LAB-a" "$WEFTD" --config "$AG/a.toml" </dev/null >/dev/null 2>>"$AG/a.log" &
PIDS+=($!)
show_logs() {
  tail -n 15 "$AG/a.log" | sed 's/^/  [agent a] /' >&2
  tail -n 15 "$AG/a-state/ipsec/charon.log" 2>/dev/null | sed 's/^/  [charon a] /' >&2
  tail -n 15 "$GW/charon.log" | sed 's/^/  [gateway charon] /' >&2
}
wait_field alive True 30 || { show_logs; die "a's IPsec path did not come up"; }
wait_field route wireguard 10 || die "a does not route $PREFIX over WireGuard"
"$WEFT" ipsec status --socket "$A_SOCK" >&2 || die "weft ipsec status failed"

LOG_B=$WORK/recv-b.log LOG_C=$WORK/recv-c.log ALL=$WORK/recv.log EVENTS=$WORK/events
: >"$LOG_B"; : >"$LOG_C"; : >"$EVENTS"
ip netns exec "$LAB-b" python3 "$UDP" recv --bind "$TARGET:$PORT" --log "$LOG_B" &
PIDS+=($!)
ip netns exec "$LAB-c" python3 "$UDP" recv --bind "$TARGET:$PORT" --log "$LOG_C" &
PIDS+=($!)
sleep 0.3
ip netns exec "$LAB-a" python3 "$UDP" send --src 10.77.1.1 --dst "$TARGET:$PORT" --rate 1000 &
PIDS+=($!)
sleep 1.5
[ -s "$LOG_B" ] || die "no datagram reached b over WireGuard"

for trial in $(seq "$TRIALS"); do
  t_cut=$(now)
  "$WEFT" lab link b:0 --down --name "$LAB" >/dev/null
  python3 "$UDP" wait-resume --log "$LOG_C" --since "$t_cut" --timeout 10 \
    || die "trial $trial: the stream did not resume over IPsec within 10 s"
  sleep 0.3
  t_restore=$(now)
  "$WEFT" lab link b:0 --up --name "$LAB" >/dev/null
  wait_field route wireguard 15 || die "trial $trial: $PREFIX not back on WireGuard within 15 s"
  python3 "$UDP" wait-resume --log "$LOG_B" --since "$t_restore" --timeout 10 \
    || die "trial $trial: the stream did not resume over WireGuard"
  sleep 0.3
  t_next=$(now)
  echo "ipsec $trial b $t_cut $t_restore $t_next" >>"$EVENTS"
  awk -v c="$t_cut" -v r="$t_restore" -v n="$t_next" -v t="$trial" \
    'BEGIN {printf "  trial %d: over IPsec for %.2f s, back on WireGuard after %.2f s\n", t, r-c, n-r}' >&2
  sleep 1
done
cat "$LOG_B" "$LOG_C" >"$ALL"
RESULTS=$WORK/results
python3 "$UDP" gaps --log "$ALL" --events "$EVENTS" >"$RESULTS"
echo "per trial (mode trial site_cut gap_ms lost_datagrams back_gap_ms):"
sed 's/^/  /' "$RESULTS"
pct() { # COLUMN P -> nearest-rank percentile
  awk '{print $'"$1"'}' "$RESULTS" | sort -g \
    | awk -v p="$2" 'NF {v[++n]=$1} END {if (!n) exit; r=int(p/100*n); if (r<p/100*n) r++; if (r<1) r=1; printf "%.1f", v[r]}'
}
n=$(wc -l <"$RESULTS")
[ "$n" -gt 0 ] || die "no trial results"
echo "gap max ms: $(pct 4 100), back gap max ms: $(pct 6 100)"
bench_result ipsec_failover "gap_ms=$(pct 4 50)" "back_gap_ms=$(pct 6 50)" "trials=$n"
