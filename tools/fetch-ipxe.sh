#!/usr/bin/env bash
# Copies the iPXE bootloaders from Debian's `ipxe` package into .bootloaders/ at the
# workspace root, where the build embeds them (controlplane/build.rs).
# Installs the package first if it is missing (needs root or sudo).
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
