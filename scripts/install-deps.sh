#!/usr/bin/env bash
# Installs the system packages Weft's build, tests, demo and benchmarks need.
# Idempotent and quick when everything is present: apt runs only for what is missing.
#
# Usage: scripts/install-deps.sh [test|demo|bench]   (default: test; bench adds wrk and
#        gnuplot)
set -euo pipefail

purpose=${1:-test}

# command -> Debian package
declare -A need=(
  [ip]=iproute2
  [ping]=iputils-ping
  [nft]=nftables
  [iperf3]=iperf3
  [wireguard-go]=wireguard-go
  [wg]=wireguard-tools
  [curl]=curl
  [python3]=python3
  [promtool]=prometheus
  # the control plane's HA lab (weft-etcd tests, bench/leader-failover.sh)
  [etcd]=etcd-server
  # the web console's browser test (crates/weftd/tests/console, headless over WebDriver)
  [chromium]=chromium
  [chromedriver]=chromium-driver
  # GTM: clients in the DNS lab test (dig) and bench/dns.sh (dnsperf)
  [dig]=bind9-dnsutils
  # BGP at a site's edge ([bgp]: weftd runs BIRD; the lab's router is BIRD too)
  [bird]=bird2
  [dnsperf]=dnsperf
  # the package and its test (scripts/package.sh, scripts/package-test.sh)
  [dpkg-deb]=dpkg
  [objcopy]=binutils
  [man]=man-db
  [systemd-analyze]=systemd
  [setpriv]=util-linux
  # IPsec: weft-vici's test runs charon; scripts/ipsec-lab.sh and bench/latency.sh run
  # one charon per lab namespace with kernel-libipsec (libcharon-extra-plugins: ESP in
  # userspace over TUN, this kernel has no ESP), driven by swanctl over VICI (its plugin
  # is in strongswan-swanctl); openssl plugin: AES-GCM with AES-NI and x25519, the
  # proposals a cloud gateway offers
  [swanctl]=strongswan-swanctl
  [/usr/lib/ipsec/charon]=strongswan-charon
  [/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so]=libcharon-extra-plugins
  [/usr/lib/ipsec/plugins/libstrongswan-openssl.so]=libstrongswan-standard-plugins
)
# only for the benchmarks (bench/*.sh)
if [ "$purpose" = bench ]; then
  need[wrk]=wrk
  # bench/latency.sh's plot
  need[gnuplot]=gnuplot-nox
fi

missing=()
for cmd in "${!need[@]}"; do
  # a key is a command, or (starting with /) a file the package installs
  case $cmd in
    /*) [ -e "$cmd" ] || missing+=("${need[$cmd]}") ;;
    *) command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}") ;;
  esac
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}) and not root; install them or re-run as root" >&2
  exit 1
fi

echo "install-deps ($purpose): installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# --no-install-recommends matters: wireguard-tools otherwise pulls in a kernel image.
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
