#!/usr/bin/env bash
# Prepares a fresh Debian/Ubuntu machine.
#   tools/setup.sh run    what `fleetboot serve` needs (the iPXE bootloaders to embed)
#   tools/setup.sh test   that, plus every client and component the test suite drives
#                         (chromium, and playwright and schemathesis from PyPI in a venv),
#                         and the deploy agent the deploy lab boots (built once, cached)
#   tools/setup.sh bench  that of `run`, plus the peers and lab tools bench/*.sh drive
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-run}
run_pkgs=(ipxe ca-certificates)
test_pkgs=(tftp-hpa atftp curl xorriso busybox-static cpio iproute2 nftables ethtool procps zstd qemu-system-x86 ipxe-qemu ovmf dnsmasq-base kea-admin
  chromium python3-venv fonts-dejavu-core)
bench_pkgs=(atftpd nginx-light iperf3 dnsmasq-base udpcast uftp curl nftables iproute2 ethtool procps time)
case $what in
  run) tools/install-packages.sh "${run_pkgs[@]}" ;;
  test)
    tools/install-packages.sh "${run_pkgs[@]}" "${test_pkgs[@]}"
    tools/python-env.sh >/dev/null
    ;;
  bench) tools/install-packages.sh "${run_pkgs[@]}" "${bench_pkgs[@]}" ;;
  *) echo "usage: tools/setup.sh run|test|bench" >&2; exit 2 ;;
esac
tools/fetch-ipxe.sh
if [[ $what == test ]]; then
  tools/build-deploy-agent.sh target/test-assets/agent-out
fi
