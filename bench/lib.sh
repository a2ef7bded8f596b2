# Shared by the bench/*.sh scripts (sourced, not run). Before sourcing, a script sets
# BENCH to its name; this file then moves to the repository root and provides:
#
#   SMOKE              1 when SMOKE=1 (any value but empty or 0) was given: run the same
#                      code path once, short, and fail on anything that goes wrong.
#   die MSG            message to stderr, exit 1 (the EXIT trap cleans up).
#   bench_need CMD...  each command must exist; if one is missing, run
#                      `scripts/install-deps.sh bench` once, then check again.
#   bench_bins [weft]  WEFT / WEFTD (exported, `weft lab up --agents` uses it): from
#                      $WEFT_BIN if set (a directory; relative to the caller's directory),
#                      else `cargo build --release -p weft -p weftd` and $CARGO_TARGET_DIR/release
#                      (with `weft`: only weft is built and required).
#   bench_work         WORK, a fresh /tmp/weft-$BENCH.XXXXXX (kept on failure).
#   lab_up NAME ARGS   `weft lab up --name NAME ARGS` (removed at exit, even on failure).
#   lab_down NAME      removes it now.
#   PIDS+=(PID)        background processes killed at exit.
#   NETNS+=(NAME)      namespaces deleted at exit (after their processes are killed).
#   wggo_pair LAB IFA IFB
#                      wireguard-go ($WGGO, default `wireguard-go`) in LAB-a and LAB-b of a
#                      plain `weft lab up` lab (interfaces IFA and IFB, MTU 1420, UDP 51830),
#                      peers of each other over the underlay 198.18.1.2 <-> 198.18.2.2, overlay
#                      10.88.0.1 <-> 10.88.0.2; keys in $WORK; processes in PIDS.
#   bench_result PREFIX KEY=VALUE...
#                      prints the last line, `PREFIX KEY=VALUE ...`; fails (exit 1) if a
#                      value is empty or not a number.
#
# Every script: `sudo bench/X.sh` (full) or `SMOKE=1 WEFT_BIN=target/debug bench/X.sh`.

BENCH_CALLER_PWD=$PWD
cd "$(dirname "${BASH_SOURCE[0]}")/.."

case "${SMOKE:-0}" in
  "" | 0) SMOKE=0 ;;
  *) SMOKE=1 ;;
esac
TARGET=${CARGO_TARGET_DIR:-target}
LABS=()
PIDS=()
NETNS=()
WORK=
WEFT=

die() { echo "$BENCH.sh: $*" >&2; exit 1; }
say() { echo "$BENCH.sh: $*" >&2; }

bench_root() { [ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"; }

bench_need() {
  local t missing=()
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "missing ${missing[*]}: running scripts/install-deps.sh bench"
  scripts/install-deps.sh bench || die "scripts/install-deps.sh bench failed"
  for t in "${missing[@]}"; do
    command -v "$t" >/dev/null 2>&1 || die "$t still missing after scripts/install-deps.sh bench"
  done
}

bench_bins() {
  local bin only_weft=0
  [ "${1:-}" = weft ] && only_weft=1
  if [ -n "${WEFT_BIN:-}" ]; then
    case $WEFT_BIN in
      /*) bin=$WEFT_BIN ;;
      *) bin=$BENCH_CALLER_PWD/$WEFT_BIN ;;
    esac
  else
    command -v cargo >/dev/null || die "cargo missing (or set WEFT_BIN to a directory with weft and weftd)"
    if [ "$only_weft" = 1 ]; then
      cargo build --release -q -p weft || die "cargo build --release failed"
    else
      cargo build --release -q -p weft -p weftd || die "cargo build --release failed"
    fi
    bin=$TARGET/release
  fi
  WEFT=$bin/weft
  WEFTD=$bin/weftd
  [ -x "$WEFT" ] || die "no weft binary at $WEFT"
  [ "$only_weft" = 1 ] || [ -x "$WEFTD" ] || die "no weftd binary at $WEFTD"
  export WEFTD
}

bench_work() { WORK=$(mktemp -d "/tmp/weft-$BENCH.XXXXXX"); }

lab_up() {
  local name=$1; shift
  LABS+=("$name")
  "$WEFT" lab down --name "$name" >/dev/null 2>&1 || true
  "$WEFT" lab up --name "$name" "$@" >"${WORK:-/tmp}/lab-up-$name.log" 2>&1 \
    || { cat "${WORK:-/tmp}/lab-up-$name.log" >&2; die "weft lab up --name $name $* failed"; }
}

lab_down() { "$WEFT" lab down --name "$1" >/dev/null || die "weft lab down --name $1 failed"; }

bench_cleanup() {
  local rc=$? p l n
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  if [ -n "$WEFT" ]; then
    for l in "${LABS[@]}"; do
      [ -e "/run/weft-lab/$l" ] || continue
      "$WEFT" lab down --name "$l" >/dev/null 2>&1 || echo "$BENCH.sh: could not remove lab $l" >&2
    done
  fi
  for n in "${NETNS[@]}"; do
    ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null
    sleep 0.1
    ip netns del "$n" 2>/dev/null
  done
  if [ -n "$WORK" ]; then
    if [ "$rc" -ne 0 ]; then echo "$BENCH.sh: failed (rc $rc); work files kept in $WORK" >&2
    else rm -rf "$WORK"; fi
  fi
  exit "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

bench_result() {
  local prefix=$1 kv bad=()
  shift
  [ $# -gt 0 ] || die "no figures"
  for kv in "$@"; do
    [[ $kv =~ ^[A-Za-z0-9_./-]+=-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]] || bad+=("$kv")
  done
  if [ ${#bad[@]} -gt 0 ]; then
    echo "$prefix $*" >&2
    die "figures missing or not numbers: ${bad[*]}"
  fi
  echo "$prefix $*"
}

# wggo_site LAB SITE IFACE OVERLAY LOCAL_KEY PEER_PUB PEER_UNDERLAY PEER_OVERLAY
wggo_site() {
  local ns="$1-$2" i
  ip netns exec "$ns" "${WGGO:-wireguard-go}" -f "$3" >"$WORK/$3.log" 2>&1 &
  PIDS+=($!)
  for i in $(seq 50); do [ -S "/var/run/wireguard/$3.sock" ] && break; sleep 0.1; done
  [ -S "/var/run/wireguard/$3.sock" ] || { cat "$WORK/$3.log" >&2; die "${WGGO:-wireguard-go} did not create $3"; }
  ip netns exec "$ns" wg set "$3" private-key "$5" listen-port 51830 \
    peer "$(cat "$6")" endpoint "$7:51830" allowed-ips "$8/32"
  ip -n "$ns" addr add "$4/24" dev "$3"
  ip -n "$ns" link set "$3" mtu 1420 up
}

wggo_pair() {
  local lab=$1 ifa=$2 ifb=$3
  (
    umask 077
    wg genkey >"$WORK/a.key"; wg genkey >"$WORK/b.key"
    wg pubkey <"$WORK/a.key" >"$WORK/a.pub"; wg pubkey <"$WORK/b.key" >"$WORK/b.pub"
  )
  wggo_site "$lab" a "$ifa" 10.88.0.1 "$WORK/a.key" "$WORK/b.pub" 198.18.2.2 10.88.0.2
  wggo_site "$lab" b "$ifb" 10.88.0.2 "$WORK/b.key" "$WORK/a.pub" 198.18.1.2 10.88.0.1
}
