#!/usr/bin/env bash
# Bounded fuzzing of the parsers that face hostile input: `tools/fuzz.sh [SECONDS]` runs each
# target for SECONDS (default 30). Seeds: a real Rock Ridge + Joliet + El Torito image built
# with xorriso, and TFTP/HTTP/DHCP requests as clients send them. Needs cargo-fuzz (installed if missing); the
# stable toolchain runs it with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
fuzz=controlplane/fuzz
seeds=$fuzz/corpus
mkdir -p "$seeds/iso_index" "$seeds/wire_codecs"
if [[ ! -s $seeds/iso_index/seed.iso ]]; then
  tree=$(mktemp -d)
  trap 'rm -rf "$tree"' EXIT
  mkdir -p "$tree/casper" "$tree/boot/grub" "$tree/isolinux"
  echo kernel > "$tree/casper/vmlinuz"
  echo initrd > "$tree/casper/initrd"
  head -c 4096 /dev/zero > "$tree/isolinux/isolinux.bin"
  head -c 65536 /dev/zero > "$tree/boot/grub/efi.img"
  ln -s vmlinuz "$tree/casper/linux"
  touch "$tree/boot/$(printf 'n%.0s' {1..200})"
  xorriso -as mkisofs -R -J -V SEED -b isolinux/isolinux.bin -no-emul-boot -boot-load-size 4 \
    -eltorito-alt-boot -e boot/grub/efi.img -no-emul-boot -o "$seeds/iso_index/seed.iso" "$tree" 2>/dev/null
fi
printf '\0\1pxelinux.0\0octet\0blksize\0001468\0tsize\0000\0' > "$seeds/wire_codecs/rrq"
printf 'GET /boot.ipxe?mac=52:54:00:12:34:56 HTTP/1.1\r\nHost: 10.0.0.2:8080\r\nRange: bytes=0-9,-5\r\nIf-Range: "1-2"\r\n\r\n' > "$seeds/wire_codecs/get"
# A BIOS PXE DISCOVER as firmware sends it: BOOTP header, cookie, options 53, 60, 93, 97.
python3 - "$seeds/wire_codecs/pxe-discover" <<'PY'
import struct, sys
head = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, 0xDEADBEEF, 0, 0x8000,
                   bytes(4), bytes(4), bytes(4), bytes(4), bytes.fromhex("525400123456") + bytes(10),
                   bytes(64), bytes(128))
vendor = b"PXEClient:Arch:00000:UNDI:002001"
opts = bytes([99, 130, 83, 99, 53, 1, 1, 60, len(vendor)]) + vendor + bytes([93, 2, 0, 0, 97, 17, 0]) + bytes(16) + bytes([255])
open(sys.argv[1], "wb").write(head + opts)
PY
for target in iso_index wire_codecs; do
  echo "== fuzz $target for ${secs}s"
  (cd $fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "corpus/$target" -- \
     -max_total_time="$secs" -rss_limit_mb=2048 -max_len=1048576)
done
