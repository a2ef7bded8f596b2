#!/usr/bin/env bash
# Supply-chain checks with cargo-deny against deny.toml: licences, bans
# (duplicate versions warn, wildcards and openssl-sys fail), sources
# (crates.io only). Installs cargo-deny into ~/.cargo/bin when missing (about
# 4 min to build on 2 cores, once per machine); then the check takes a second.
#
# The RustSec advisory database is fetched from GitHub, which CI cannot reach:
# advisories are checked only with WEFT_DENY_ADVISORIES=1.
#
# Usage: scripts/deny.sh
# Env:   WEFT_DENY_ADVISORIES=1   also check advisories (needs github.com)
#        CARGO_DENY_VERSION=0.20.2  the version installed when missing
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=${CARGO_DENY_VERSION:-0.20.2}
if ! cargo deny --version >/dev/null 2>&1; then
  echo "deny: installing cargo-deny $VERSION (once; a few minutes)" >&2
  cargo install --locked --version "$VERSION" cargo-deny
fi

checks=(bans licenses sources)
if [ "${WEFT_DENY_ADVISORIES:-0}" = 1 ]; then
  checks+=(advisories)
fi
exec cargo deny --locked check --hide-inclusion-graph "${checks[@]}"
