#!/usr/bin/env bash
# Vendors the web console's third-party front-end files from the npm registry
# into crates/weftd/src/api/console/vendor/ (embedded in weftd with include_bytes!).
# Run it only to add or update a package: bump a version below, run it, review
# the diff (the files, LICENSES and SHA256SUMS), rebuild, run the console test.
# The build and the tests never need Node or npm: the files are committed.
#
# Usage: scripts/vendor-console.sh        (needs npm and network to the registry)
#        scripts/vendor-console.sh --check (verifies the committed files against SHA256SUMS)
set -euo pipefail
DEST="$(cd "$(dirname "$0")/.." && pwd)/crates/weftd/src/api/console/vendor"

if [ "${1:-}" = --check ]; then
  cd "$DEST" && sha256sum --check --quiet SHA256SUMS && echo "vendor-console: all files match SHA256SUMS"
  exit 0
fi

# package@version  file-in-tarball  name-in-vendor
FILES=(
  "htmx.org@2.0.11    package/dist/htmx.min.js        htmx.min.js"
  "htmx-ext-sse@2.2.4 package/dist/sse.min.js         htmx-ext-sse.min.js"
  "uplot@1.6.32       package/dist/uPlot.iife.min.js  uPlot.iife.min.js"
  "uplot@1.6.32       package/dist/uPlot.min.css      uPlot.min.css"
)

command -v npm >/dev/null || { echo "vendor-console: npm is needed (only to update the vendored files)" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$DEST"
: >"$TMP/LICENSES"
for line in "${FILES[@]}"; do
  read -r spec file name <<<"$line"
  dir="$TMP/${spec//[@\/]/_}"
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir"
    tgz=$(cd "$TMP" && npm pack --silent "$spec")
    tar xzf "$TMP/$tgz" -C "$dir"
    {
      echo "==== $spec (from the npm registry, $(basename "$tgz")) ===="
      cat "$dir/package/LICENSE"
      echo
    } >>"$TMP/LICENSES"
  fi
  cp "$dir/$file" "$DEST/$name"
  echo "vendor-console: $spec $file -> $name"
done
cp "$TMP/LICENSES" "$DEST/LICENSES"
(cd "$DEST" && sha256sum htmx.min.js htmx-ext-sse.min.js uPlot.iife.min.js uPlot.min.css LICENSES >SHA256SUMS)
echo "vendor-console: wrote $DEST/SHA256SUMS"
