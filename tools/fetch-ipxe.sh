#!/usr/bin/env bash
# Copies the iPXE bootloaders from Debian's `ipxe` package, and syslinux's `memdisk` (for
# images booted with the memdisk method) from `syslinux-common`, into .bootloaders/ at the
# workspace root, where the build embeds them (controlplane/build.rs).
# Installs the packages first if they are missing (needs root or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
src=/usr/lib/ipxe
if [[ ! -f $src/ipxe.efi ]]; then
  tools/install-packages.sh ipxe
fi
mkdir -p .bootloaders
for f in undionly.kpxe ipxe.efi snponly.efi; do
  if [[ -f $src/$f ]]; then
    cp -fL "$src/$f" ".bootloaders/$f"
    echo "fetch-ipxe: $f ($(stat -L -c %s "$src/$f") bytes) from $src"
  else
    echo "fetch-ipxe: $f not in the ipxe package; it will not be embedded" >&2
  fi
done
memdisk=/usr/lib/syslinux/memdisk
if [[ ! -f $memdisk ]]; then
  tools/install-packages.sh syslinux-common
fi
if [[ -f $memdisk ]]; then
  cp -fL "$memdisk" .bootloaders/memdisk
  echo "fetch-ipxe: memdisk ($(stat -L -c %s "$memdisk") bytes) from $memdisk"
else
  echo "fetch-ipxe: memdisk not in syslinux-common; it will not be embedded" >&2
fi
