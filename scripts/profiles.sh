#!/usr/bin/env bash
# make profiles: the connection profiles of the example topology (the lab of `make demo`:
# sites a, b, c running weftd) written to target/profiles/, the seed's "publish connection
# profiles" step. Brings up the lab (one uplink per site, ~5 s), registers the example
# clients with the sites' agents through `weft profile export`, checks what was written
# (wg-quick parses every configuration; every QR code is a PNG), and tears the lab down.
#
# The example clients:
#   laptop  uses every site: exported against a, then b, then c (one [Peer] each, one key);
#   phone   uses site a only, with a key pair made on the phone (--public-key: the
#           configuration holds a placeholder for the private key);
#   gateway uses sites a and b and is an IPsec peer (--ipsec: also gateway.swanctl.conf,
#           one IKEv2 connection per site; loading it into charon is a unit test of weft).
#
# Usage: sudo scripts/profiles.sh          (needs root: network namespaces)
# Env:   WEFT_BIN=target/debug             where weft and weftd are [target/debug, built here]
#        PROFILES_OUT=target/profiles      where the profiles go
# Last line: profiles ok clients=N files=N
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "profiles: needs root (network namespaces)" >&2; exit 1; }

TARGET=${CARGO_TARGET_DIR:-target}
if [ -z "${WEFT_BIN:-}" ]; then
  cargo build --locked -q -p weft -p weftd
  WEFT_BIN=$TARGET/debug
fi
WEFT=$WEFT_BIN/weft
export WEFTD=$WEFT_BIN/weftd
OUT=${PROFILES_OUT:-$TARGET/profiles}
LAB=prof$$
cleanup() { "$WEFT" lab down --name "$LAB" >/dev/null 2>&1 || true; }
trap cleanup EXIT INT TERM

umask 077
rm -rf "$OUT"
mkdir -p "$OUT"
"$WEFT" lab up --sites 3 --uplinks 1 --agents --name "$LAB" >/dev/null
AGENTS=/run/weft-lab/$LAB/agents
at() { WEFT_SOCKET=$AGENTS/$1-state/api.sock "${@:2}"; }
for s in a b c; do
  for _ in $(seq 100); do
    at "$s" "$WEFT" status >/dev/null 2>&1 && break
    sleep 0.1
  done
done

for s in a b c; do
  at "$s" "$WEFT" profile export laptop --sites a,b,c --out "$OUT"
done
PHONE_KEY=$("$WEFT" genkey | "$WEFT" pubkey)
at a "$WEFT" profile export phone --sites a --public-key "$PHONE_KEY" --out "$OUT"
for s in a b; do
  at "$s" "$WEFT" profile export gateway --sites a,b --ipsec --out "$OUT"
done

# What was written: wg-quick's own parser takes every configuration (after the
# placeholder of a key made elsewhere is replaced by a real one), each site is a
# peer of the laptop, and each QR code is a PNG.
fail=0
for c in laptop phone gateway; do
  conf=$OUT/$c.conf
  sed "s|^PrivateKey = <.*|PrivateKey = $("$WEFT" genkey)|" "$conf" > "$OUT/.check.conf"
  wg-quick strip "$OUT/.check.conf" >/dev/null || { echo "profiles: wg-quick refuses $conf" >&2; fail=1; }
  [ "$(head -c 4 "$OUT/$c.png" | od -An -tx1 | tr -d ' ')" = 89504e47 ] ||
    { echo "profiles: $OUT/$c.png is not a PNG" >&2; fail=1; }
done
rm -f "$OUT/.check.conf"
[ "$(grep -c '^\[Peer\]' "$OUT/laptop.conf")" -eq 3 ] || { echo "profiles: laptop lacks a site" >&2; fail=1; }
swan=$OUT/gateway.swanctl.conf
[ "$(grep -c '^  weft-[ab] {' "$swan")" -eq 2 ] && [ "$(grep -c '^    secret = 0x' "$swan")" -eq 2 ] ||
  { echo "profiles: $swan lacks a site's connection or secret" >&2; fail=1; }
[ "$fail" -eq 0 ] || exit 1
at a "$WEFT" profile list
echo "profiles ok clients=3 files=$(find "$OUT" -type f | wc -l)"
