#!/usr/bin/env bash
# Prepares a fresh Debian/Ubuntu machine.
#   tools/setup.sh run    what `fleetboot serve` needs (the iPXE bootloaders to embed)
#   tools/setup.sh test   that, plus every client and component the test suite drives
#                         (chromium, and playwright and schemathesis from PyPI in a venv),
#                         and the deploy agent the deploy lab boots (built once, cached)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-run}
run_pkgs=(ipxe ca-certificates)
test_pkgs=(tftp-hpa atftp curl xorriso busybox-static cpio iproute2 nftables procps qemu-system-x86 ipxe-qemu ovmf dnsmasq-base kea-admin
  chromium python3-venv fonts-dejavu-core)
case $what in
  run) tools/install-packages.sh "${run_pkgs[@]}" ;;
  test)
    tools/install-packages.sh "${run_pkgs[@]}" "${test_pkgs[@]}"
    tools/python-env.sh >/dev/null
    ;;
  *) echo "usage: tools/setup.sh run|test" >&2; exit 2 ;;
esac
tools/fetch-ipxe.sh
if [[ $what == test ]]; then
  tools/build-deploy-agent.sh target/test-assets/agent-out
fi
