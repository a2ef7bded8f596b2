#!/usr/bin/env bash
# strongSwan IPsec (IKEv2, PSK) between two lab namespaces, one charon per namespace.
#
# This kernel has no ESP, so each charon runs ESP in userspace with the kernel-libipsec
# plugin (ESP in UDP 4500 to the peer, plaintext on a TUN device `ipsec0` in its
# namespace; the routes to the far inner address go into table 220 through that device).
# Each charon has a directory of its own (DIR/a, DIR/b): strongswan.conf (found through
# STRONGSWAN_CONF), swanctl.conf, the VICI socket `charon.vici`, the log, and a `run/`
# bind-mounted over /run in a private mount namespace so the compiled-in pid file
# /run/charon.pid of one charon does not stop the other.
#
# Usage (root):
#   scripts/ipsec-lab.sh up DIR NS_A NS_B [INNER_A INNER_B]
#       writes the configs, starts both charons, loads them with `swanctl --load-all`,
#       `swanctl --initiate`s from NS_A and waits until INNER_B answers ping from INNER_A.
#       Underlay addresses: the first global IPv4 address of each namespace's default
#       route device. Inner addresses (default 10.99.0.1 and 10.99.0.2) are added as /32
#       to `lo`; the tunnel's traffic selectors are INNER_A/32 <-> INNER_B/32.
#       Prints `charon_a=PID charon_b=PID` on success; on failure prints the charon logs,
#       tears down and exits 1.
#   scripts/ipsec-lab.sh down DIR
#       stops both charons (by the pids recorded in DIR), removes the inner addresses
#       and DIR. Safe to run twice or after a partial `up`.
#   scripts/ipsec-lab.sh status DIR    `swanctl --list-sas` of both charons.
#   scripts/ipsec-lab.sh selftest WEFT
#       `WEFT lab up` of a plain 2-site lab, up, ping, down, lab down: exit 0 if the
#       tunnel carried the ping.
# Env: IPSEC_PROPOSALS (IKE, default aes256gcm16-prfsha256-x25519),
#      ESP_PROPOSALS (default aes256gcm16), IPSEC_TIMEOUT=20 (seconds to wait for the SA).
set -euo pipefail

CHARON=/usr/lib/ipsec/charon
IKE_PROPOSALS=${IPSEC_PROPOSALS:-aes256gcm16-prfsha256-x25519}
ESP_PROPOSALS=${ESP_PROPOSALS:-aes256gcm16}
TIMEOUT=${IPSEC_TIMEOUT:-20}

die() { echo "ipsec-lab: $*" >&2; exit 1; }

# underlay NS: the first global IPv4 address on the device of NS's default route
underlay() {
  local dev
  dev=$(ip -n "$1" -4 route show default | awk '{for (i = 1; i < NF; i++) if ($i == "dev") {print $(i + 1); exit}}')
  [ -n "$dev" ] || die "namespace $1 has no IPv4 default route"
  ip -n "$1" -4 -o addr show dev "$dev" scope global | awk '{split($4, a, "/"); print a[1]; exit}'
}

# write_site DIR SIDE LOCAL REMOTE LOCAL_INNER REMOTE_INNER PSK
write_site() {
  local d=$1/$2
  mkdir -p "$d/run"
  cat >"$d/strongswan.conf" <<EOF
# charon of side $2 (scripts/ipsec-lab.sh)
charon {
  # only these plugins; kernel-libipsec before kernel-netlink: ESP in userspace over TUN
  load = random nonce openssl aes sha1 sha2 hmac gmp pem pkcs1 x509 pubkey kdf kernel-libipsec kernel-netlink socket-default vici
  filelog {
    log {
      path = $d/charon.log
      time_format = %H:%M:%S
      default = 1
      ike = 1
      net = 0
    }
  }
  plugins {
    vici {
      socket = unix://$d/charon.vici
    }
    kernel-libipsec {
      allow_peer_ts = no
    }
  }
  install_virtual_ip = no
}
# swanctl run against this charon reads this file too: parse PEM/x509 only
swanctl {
  load = random nonce pem pkcs1 x509 pubkey
}
EOF
  cat >"$d/swanctl.conf" <<EOF
connections {
  lab {
    version = 2
    local_addrs = $3
    remote_addrs = $4
    proposals = $IKE_PROPOSALS
    # kernel-libipsec can only receive ESP through charon's UDP socket
    encap = yes
    local {
      auth = psk
      id = $3
    }
    remote {
      auth = psk
      id = $4
    }
    children {
      lab {
        local_ts = $5/32
        remote_ts = $6/32
        esp_proposals = $ESP_PROPOSALS
        start_action = none
        dpd_action = restart
      }
    }
  }
}
secrets {
  ike-lab {
    id-a = $3
    id-b = $4
    secret = "$7"
  }
}
EOF
}

# start_charon DIR SIDE NS -> pid in DIR/SIDE/pid
start_charon() {
  local d=$1/$2 i
  STRONGSWAN_CONF=$d/strongswan.conf setsid ip netns exec "$3" \
    unshare --mount --propagation private \
    sh -c 'mount --bind "$1" /run && exec "$2" --use-syslog no' sh "$d/run" "$CHARON" \
    >"$d/stdout.log" 2>&1 </dev/null &
  echo $! >"$d/pid"
  for i in $(seq 100); do
    [ -S "$d/charon.vici" ] && return 0
    kill -0 "$(cat "$d/pid")" 2>/dev/null || break
    sleep 0.1
  done
  return 1
}

swan() { # DIR SIDE COMMAND [ARGS...]: swanctl COMMAND on that side's VICI socket
  local d=$1/$2 c=$3; shift 3
  STRONGSWAN_CONF=$d/strongswan.conf swanctl "$c" --uri "unix://$d/charon.vici" "$@"
}

cmd_down() {
  local dir=$1 side p
  [ -d "$dir" ] || return 0
  for side in a b; do
    [ -f "$dir/$side/pid" ] || continue
    p=$(cat "$dir/$side/pid")
    kill "$p" 2>/dev/null || true
  done
  for side in a b; do
    [ -f "$dir/$side/pid" ] || continue
    p=$(cat "$dir/$side/pid")
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  if [ -f "$dir/inner" ]; then
    while read -r ns addr; do
      ip -n "$ns" addr del "$addr/32" dev lo 2>/dev/null || true
    done <"$dir/inner"
  fi
  rm -rf "$dir"
}

cmd_up() {
  local dir=$1 na=$2 nb=$3 ia=${4:-10.99.0.1} ib=${5:-10.99.0.2} ua ub psk i
  [ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
  [ -x "$CHARON" ] || die "$CHARON missing: run scripts/install-deps.sh bench"
  local p
  for p in kernel-libipsec openssl vici; do
    [ -e "/usr/lib/ipsec/plugins/libstrongswan-$p.so" ] \
      || die "strongSwan plugin $p missing: run scripts/install-deps.sh bench"
  done
  command -v swanctl >/dev/null || die "swanctl missing: run scripts/install-deps.sh bench"
  [ ! -e "$dir/a/pid" ] || die "$dir is in use (scripts/ipsec-lab.sh down $dir first)"
  ua=$(underlay "$na"); ub=$(underlay "$nb")
  [ -n "$ua" ] && [ -n "$ub" ] || die "no underlay address in $na or $nb"
  mkdir -p "$dir"
  psk=$(head -c 24 /dev/urandom | base64)
  write_site "$dir" a "$ua" "$ub" "$ia" "$ib" "$psk"
  write_site "$dir" b "$ub" "$ua" "$ib" "$ia" "$psk"
  : >"$dir/inner"
  ip -n "$na" addr add "$ia/32" dev lo && echo "$na $ia" >>"$dir/inner"
  ip -n "$nb" addr add "$ib/32" dev lo && echo "$nb $ib" >>"$dir/inner"
  fail() {
    local s
    for s in a b; do
      echo "--- charon $s log" >&2
      tail -n 30 "$dir/$s/charon.log" "$dir/$s/stdout.log" >&2 2>/dev/null || true
    done
    cmd_down "$dir"
    die "$*"
  }
  start_charon "$dir" a "$na" || fail "charon in $na did not start"
  start_charon "$dir" b "$nb" || fail "charon in $nb did not start"
  for s in a b; do
    swan "$dir" "$s" --load-all --file "$dir/$s/swanctl.conf" >"$dir/$s/load.log" 2>&1 \
      || { cat "$dir/$s/load.log" >&2; fail "swanctl --load-all ($s) failed"; }
  done
  swan "$dir" a --initiate --child lab --timeout "$TIMEOUT" >"$dir/a/initiate.log" 2>&1 \
    || { cat "$dir/a/initiate.log" >&2; fail "swanctl --initiate failed"; }
  for i in $(seq $((TIMEOUT * 10))); do
    ip netns exec "$na" ping -n -q -c 1 -W 1 -I "$ia" "$ib" >/dev/null 2>&1 && {
      echo "charon_a=$(cat "$dir/a/pid") charon_b=$(cat "$dir/b/pid")"
      return 0
    }
    sleep 0.1
  done
  fail "SA up but $ib does not answer ping from $ia"
}

selftest_cleanup() {
  cmd_down "$ST_DIR/ipsec"
  "$ST_WEFT" lab down --name "$ST_LAB" >/dev/null 2>&1 || true
  rm -rf "$ST_DIR"
}

cmd_selftest() {
  ST_WEFT=$1 ST_LAB="ipsec$$" ST_DIR=$(mktemp -d /tmp/weft-ipsec-lab.XXXXXX)
  local weft=$1 lab=$ST_LAB dir=$ST_DIR
  trap selftest_cleanup EXIT
  "$weft" lab up --name "$lab" --sites 2 --uplinks 1 >"$dir/lab.log" 2>&1 \
    || { cat "$dir/lab.log" >&2; die "weft lab up failed"; }
  cmd_up "$dir/ipsec" "$lab-a" "$lab-b"
  ip netns exec "$lab-a" ping -n -c 5 -i 0.2 -I 10.99.0.1 10.99.0.2 | tail -n 2
  # the echoes went through ESP: charon b counts packets in on the CHILD_SA
  swan "$dir/ipsec" b --list-sas >"$dir/sas.txt"
  cat "$dir/sas.txt"
  grep -q 'TUNNEL-in-UDP, ESP' "$dir/sas.txt" || die "no installed ESP CHILD_SA in charon b"
  awk '$1 == "in" && $5 + 0 >= 5 {ok = 1} END {exit !ok}' "$dir/sas.txt" \
    || die "charon b counted fewer than 5 ESP packets in"
  echo "ipsec-lab selftest: ok"
}

case ${1:-} in
  up) [ $# -ge 4 ] || die "usage: up DIR NS_A NS_B [INNER_A INNER_B]"; shift; cmd_up "$@" ;;
  down) [ $# -eq 2 ] || die "usage: down DIR"; cmd_down "$2" ;;
  status) [ $# -eq 2 ] || die "usage: status DIR"; swan "$2" a --list-sas; swan "$2" b --list-sas ;;
  selftest) [ $# -eq 2 ] || die "usage: selftest WEFT"; cmd_selftest "$2" ;;
  *) die "usage: $0 up|down|status|selftest ... (see the header)" ;;
esac
