#!/usr/bin/env bash
# The Debian package, installed and run: builds it (scripts/package.sh, the
# debug build by default so CI adds no release build), then
#   - checks its contents and the unit with `systemd-analyze verify`;
#   - installs it into a temporary root (dpkg -x) and runs `weftd --version`,
#     `weft --help`, `man -l` on the installed pages and `bash -n` on the
#     bash completions from there;
#   - runs the installed weftd as the unit would (this machine has no
#     systemd as PID 1 to start the unit itself): its ExecStartPre check,
#     then the agent with the unit's capability bounding set
#     (CAP_NET_ADMIN, CAP_NET_RAW, CAP_NET_BIND_SERVICE) and no new
#     privileges, in a fresh network namespace, until the installed `weft
#     status` reads it over the API socket; `weft doctor` passes under
#     those capabilities and fails, naming the fix, without them.
#
# Usage: sudo scripts/package-test.sh   (root: namespaces, TUN)
# Env:   PROFILE=debug|release   (default debug)
# Last line: package-test ok deb=PATH
set -euo pipefail
cd "$(dirname "$0")/.."

export PROFILE=${PROFILE:-debug}
line=$(scripts/package.sh | tail -1)
DEB=$(sed -n 's/.* deb=\([^ ]*\) .*/\1/p' <<<"$line")
VERSION=$(dpkg-deb -f "$DEB" Version)
fail() { echo "package-test: $*" >&2; echo "package-test FAILED deb=$DEB"; exit 1; }

WORK=$(mktemp -d /tmp/weft-package-test.XXXXXX)
NS=weftpkg$$
PID=
cleanup() {
  [ -z "$PID" ] || kill "$PID" 2>/dev/null || true
  [ -z "$PID" ] || wait "$PID" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Contents.
listing=$(dpkg-deb -c "$DEB")
for f in ./usr/bin/weftd ./usr/bin/weft ./lib/systemd/system/weftd.service \
  ./usr/share/man/man1/weft.1.gz ./usr/share/man/man1/weftd.1.gz \
  ./usr/share/man/man1/weft-policy-apply.1.gz \
  ./usr/share/bash-completion/completions/weft ./usr/share/zsh/vendor-completions/_weft \
  ./usr/share/fish/vendor_completions.d/weftd.fish ./usr/share/doc/weft/copyright; do
  grep -q " $f\$" <<<"$listing" || fail "$f is not in the package"
done
[ -f "${DEB%.deb}.cdx.json" ] || fail "no SBOM next to the package"
python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); assert b["bomFormat"] == "CycloneDX" and len(b["components"]) > 50' \
  "${DEB%.deb}.cdx.json" || fail "the SBOM is not a CycloneDX document with the dependencies"

# Installed into a temporary root.
ROOT=$WORK/root
dpkg -x "$DEB" "$ROOT"
UNIT=$ROOT/lib/systemd/system/weftd.service
# verify wants the unit's programs and man pages in place: a private mount
# namespace lays the package's /usr/bin and man1 over the host's.
out=$(unshare -m --propagation private sh -c '
  mount -t overlay overlay -o "lowerdir=$1/usr/bin:/usr/bin" /usr/bin &&
  mount -t overlay overlay -o "lowerdir=$1/usr/share/man/man1:/usr/share/man/man1" /usr/share/man/man1 &&
  systemd-analyze verify --man=yes "$2"' sh "$ROOT" "$UNIT" 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify warns: $out"
[ "$("$ROOT/usr/bin/weftd" --version)" = "weftd $VERSION" ] || fail "weftd --version"
"$ROOT/usr/bin/weft" --help | grep -q '^Usage: weft ' || fail "weft --help"
for page in weft weftd weft-policy-apply; do
  MANWIDTH=80 man -l "$ROOT/usr/share/man/man1/$page.1.gz" 2>/dev/null | grep -q "^NAME" ||
    fail "man -l $page.1.gz shows no page"
done
MANWIDTH=80 man -l "$ROOT/usr/share/man/man1/weftd.1.gz" 2>/dev/null | grep -q -- '--config' ||
  fail "the weftd page does not document --config"
bash -n "$ROOT/usr/share/bash-completion/completions/weft" || fail "the bash completion does not parse"

# Run as the unit would: ExecStartPre (the check), then ExecStart with its capabilities.
ip netns add "$NS"
ip -n "$NS" link set lo up
STATE=$WORK/state
mkdir -m 0700 "$STATE"
"$ROOT/usr/bin/weft" genkey >"$WORK/site.key"
chmod 0600 "$WORK/site.key"
cat >"$WORK/site.toml" <<EOF
[site]
name = "pkgtest"
private_key_file = "$WORK/site.key"
address = "10.99.1.1/24"
prefixes = ["10.99.1.0/24"]
state_dir = "$STATE"

[[uplink]]
name = "lo"
bind = "127.0.0.1:51820"
EOF
"$ROOT/usr/bin/weftd" --config "$WORK/site.toml" --check >/dev/null || fail "weftd --check refused the config"
ip netns exec "$NS" setpriv --bounding-set=-all,+net_admin,+net_raw,+net_bind_service \
  --inh-caps=-all --no-new-privs "$ROOT/usr/bin/weftd" --config "$WORK/site.toml" \
  >"$WORK/weftd.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
  [ -S "$STATE/api.sock" ] && break
  kill -0 "$PID" 2>/dev/null || fail "weftd exited: $(tail -5 "$WORK/weftd.log")"
  sleep 0.1
done
status=$(ip netns exec "$NS" "$ROOT/usr/bin/weft" status --socket "$STATE/api.sock" --json) ||
  fail "weft status against the installed agent: $(tail -5 "$WORK/weftd.log")"
grep -q '"site": *"pkgtest"' <<<"$status" || fail "weft status: $status"
caps=$(grep '^CapBnd' "/proc/$PID/status" | awk '{print $2}')
[ "$caps" = 0000000000003400 ] || fail "weftd's bounding set is $caps, not the unit's"

# `weft doctor` from the package: ready under the unit's capabilities (the
# running agent's ports are its own), a failure naming the fix without them.
caps=(--bounding-set=-all,+net_admin,+net_raw,+net_bind_service --inh-caps=-all --no-new-privs)
doctor=$(ip netns exec "$NS" setpriv "${caps[@]}" "$ROOT/usr/bin/weft" doctor --state-dir "$STATE") ||
  fail "weft doctor under the unit's capabilities: $doctor"
grep -q 'weftd is running' <<<"$doctor" || fail "weft doctor did not see the agent: $doctor"
rc=0
doctor=$(ip netns exec "$NS" setpriv --bounding-set=-all --inh-caps=-all --no-new-privs \
  "$ROOT/usr/bin/weft" doctor --state-dir "$STATE") || rc=$?
[ "$rc" = 1 ] || fail "weft doctor without capabilities exited $rc: $doctor"
grep -q '^FAIL capabilities: missing CAP_NET_ADMIN' <<<"$doctor" || fail "weft doctor: $doctor"
grep -q 'fix: run weftd as root' <<<"$doctor" || fail "weft doctor names no fix: $doctor"

echo "package-test ok deb=$DEB"
