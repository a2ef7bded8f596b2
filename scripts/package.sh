#!/usr/bin/env bash
# Builds the Debian package target/debian/weft_VERSION_ARCH.deb and its SBOM
# (weft_VERSION_ARCH.cdx.json, CycloneDX 1.5, scripts/sbom.py) with
# dpkg-deb, from the cargo build of weftd and weft:
#   /usr/bin/weftd, /usr/bin/weft                 (debug info stripped)
#   /lib/systemd/system/weftd.service             (deploy/systemd/)
#   /usr/share/man/man1/weft*.1.gz, weftd.1.gz     (generated from clap)
#   bash, zsh and fish completions                (generated from clap)
#   /usr/share/doc/weft/{copyright,README.md}
# The unit is not enabled on install: it needs /etc/weft/site.toml first.
#
# Usage: scripts/package.sh
# Env:   PROFILE=release|debug   the cargo profile (default release; CI's
#                                package test uses debug, already built)
#        CARGO_TARGET_DIR=target
# Last line: package ok deb=PATH sbom=PATH size_kb=N
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${PROFILE:-release}
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
case "$PROFILE" in
  release) cargo build --locked --release -p weftd -p weft --bins; BIN=$TARGET/release; Z=(-Zxz) ;;
  debug) cargo build --locked -p weftd -p weft --bins; BIN=$TARGET/debug; Z=(-Zgzip -z1) ;;
  *) echo "package: PROFILE is release or debug, not $PROFILE" >&2; exit 2 ;;
esac
VERSION=$("$BIN/weftd" --version | awk '{print $2}')
ARCH=$(dpkg --print-architecture)
OUT=$TARGET/debian
DEB=$OUT/weft_${VERSION}_${ARCH}.deb
SBOM=$OUT/weft_${VERSION}_${ARCH}.cdx.json
ROOT=$OUT/root
rm -rf "$ROOT"
mkdir -p "$ROOT/DEBIAN" "$OUT"

# Binaries, without their debug info (symbols stay, for backtraces).
for b in weftd weft; do
  install -D -m 0755 "$BIN/$b" "$ROOT/usr/bin/$b"
  objcopy --strip-debug "$ROOT/usr/bin/$b"
done
install -D -m 0644 deploy/systemd/weftd.service "$ROOT/lib/systemd/system/weftd.service"

# Man pages and completions, from the clap definitions of the binaries.
DOCS=$(mktemp -d /tmp/weft-docs.XXXXXX)
trap 'rm -rf "$DOCS"' EXIT
"$BIN/weft" generate-docs "$DOCS/weft" >/dev/null
"$BIN/weftd" --generate-docs "$DOCS/weftd" >/dev/null
install -d "$ROOT/usr/share/man/man1"
for page in "$DOCS"/*/man1/*.1; do
  gzip -9n <"$page" >"$ROOT/usr/share/man/man1/$(basename "$page").gz"
done
for b in weft weftd; do
  install -D -m 0644 "$DOCS/$b/completions/$b.bash" "$ROOT/usr/share/bash-completion/completions/$b"
  install -D -m 0644 "$DOCS/$b/completions/_$b" "$ROOT/usr/share/zsh/vendor-completions/_$b"
  install -D -m 0644 "$DOCS/$b/completions/$b.fish" "$ROOT/usr/share/fish/vendor_completions.d/$b.fish"
done

install -D -m 0644 README.md "$ROOT/usr/share/doc/weft/README.md"
cat >"$ROOT/usr/share/doc/weft/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: weft
License: Apache-2.0
Comment: The licences of the Rust crates linked in are listed in the
 CycloneDX SBOM published next to this package (weft_*.cdx.json).

Files: *
License: Apache-2.0
 On Debian systems, the full text is in /usr/share/common-licenses/Apache-2.0.
EOF

# Maintainer scripts: reload systemd; stop the agent before removal.
cat >"$ROOT/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
EOF
cat >"$ROOT/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then systemctl stop weftd.service || true; fi
EOF
cat >"$ROOT/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
EOF
chmod 0755 "$ROOT/DEBIAN/postinst" "$ROOT/DEBIAN/prerm" "$ROOT/DEBIAN/postrm"

SIZE=$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)
cat >"$ROOT/DEBIAN/control" <<EOF
Package: weft
Version: $VERSION
Architecture: $ARCH
Maintainer: Weft project <weft@example.invalid>
Installed-Size: $SIZE
Depends: libc6 (>= 2.34)
Recommends: nftables, wireguard-tools
Section: net
Priority: optional
Homepage: https://example.invalid/weft
Description: path-aware mesh fabric (agent weftd and CLI weft)
 Weft joins sites over every uplink they have, measures each path and
 steers each flow by policy. This package holds the site agent weftd, its
 hardened systemd unit (not enabled: write /etc/weft/site.toml, then
 systemctl enable --now weftd), the operator CLI weft, man pages and
 bash, zsh and fish completions.
EOF
(cd "$ROOT" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) \
  >"$ROOT/DEBIAN/md5sums"

dpkg-deb --root-owner-group "${Z[@]}" --build "$ROOT" "$DEB" >/dev/null
scripts/sbom.py "$SBOM" weftd weft >/dev/null
rm -rf "$ROOT"
echo "package ok deb=$DEB sbom=$SBOM size_kb=$(du -k "$DEB" | cut -f1)"
