#!/usr/bin/env bash
# Regenerates the README's screenshots of the web console (docs/console-images.png and
# docs/console-live.png): starts a server on loopback with the test ISOs in a few folders,
# and runs the browser test (tests/ui/console.py) against it in demo mode (more machines).
# Needs `tools/setup.sh test` (chromium, the playwright venv, the test ISOs' tools).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
cargo build -q -p controlplane
assets=target/test-assets/iso-layouts
tools/build-test-isos.sh "$assets"
work=$(mktemp -d)
server=""
trap '[[ -n $server ]] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
data=$work/data
mkdir -p "$data/isos/linux/servers" "$data/isos/linux/desktops" "$data/isos/windows"
place() { ln "$assets/$1" "$data/isos/$2" 2>/dev/null || cp "$assets/$1" "$data/isos/$2"; }
place debian-installer.iso linux/servers/debian-12-netinst.iso
place fedora-pxeboot.iso linux/servers/fedora-41-server.iso
place suse-loader.iso linux/servers/opensuse-tumbleweed.iso
place arch.iso linux/desktops/archlinux-2025.01.iso
place debian-live.iso linux/desktops/debian-12-live-gnome.iso
place wimboot.iso windows/winpe-amd64.iso
place isolinux-only.iso rescue-cd.iso
cp "$assets/casper.iso" "$work/ubuntu-24.04-live-server.iso"
# A small disk image for the Deploys page's multicast sessions (five chunks).
mkdir -p "$data/disks"
head -c 3M /dev/urandom >"$data/disks/rack-base.img"
fifo=$work/ready
mkfifo "$fifo"
target/debug/fleetboot serve --data-dir "$data" --tftp-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
  --admin-listen 127.0.0.1:0 --dhcp-mode proxy --dhcp-port 0 --pxe-port 0 --boot-mac-check off \
  --cores 1 >"$fifo" 2>"$work/server.log" &
server=$!
password="" ready=""
while read -r line; do
  case $line in
    "admin user: admin  password: "*) password=$(awk '{print $5}' <<<"$line") ;;
    "fleetboot ready "*) ready=$line; break ;;
  esac
done <"$fifo"
field() { tr ' ' '\n' <<<"$ready" | sed -n "s/^$1=//p"; }
port() { field "$1" | sed 's/.*://'; }
out=target/ui-screenshots/docs
target/venv/bin/python tests/ui/console.py --demo \
  --admin "http://$(field admin)" --password "$password" --http "http://$(field http)" \
  --tftp-port "$(port tftp)" --pxe-port "$(port pxe)" \
  --iso "$work/ubuntu-24.04-live-server.iso" --data "$data" --disk disks/rack-base.img \
  --out "$out"
mkdir -p docs
cp "$out/images.png" docs/console-images.png
cp "$out/live.png" docs/console-live.png
echo "screenshots: docs/console-images.png docs/console-live.png (all pages in $repo/$out)"
