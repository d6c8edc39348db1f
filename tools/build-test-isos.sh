#!/usr/bin/env bash
# Builds the test ISOs: `tools/build-test-isos.sh OUTDIR` writes OUTDIR/<layout>.iso for every
# layout below. Each ISO is shaped like the real distro's (paths, volume label, marker files)
# so that fleetboot's detection picks the intended layout, and carries Debian's real amd64
# kernel plus a tiny busybox initramfs whose /init prints, to ttyS0 and the console,
#   FLEETBOOT-TEST-BOOTED layout=<layout>
#   FLEETBOOT-CMDLINE <contents of /proc/cmdline>
# and powers off. The casper, debian-installer and fedora-pxeboot initramfs also play their
# installer's unattended part: when the command line names a file to fetch (casper:
# `ds=nocloud-net;s=URL/` → URL/user-data; debian-installer: `url=URL` or `preseed/url=URL`;
# fedora-pxeboot: `inst.ks=URL`), /init loads the NIC drivers (QEMU's e1000 and virtio-net,
# modules from the same kernel package), gets an address with busybox udhcpc, fetches the
# file with busybox wget and prints
#   FLEETBOOT-TEMPLATE-BEGIN <url>
#   <the file>
#   FLEETBOOT-TEMPLATE-END
# then POSTs `ok` to the same base's `done` (http://SERVER/t/<token>/user-data →
# http://SERVER/t/<token>/done), prints FLEETBOOT-INSTALL-DONE <done url> (or
# FLEETBOOT-INSTALL-FAILED <why>) and powers off. Everything else (squashfs, wim, ...) is a small placeholder: the Windows
# ISO does not boot. No El Torito record: a real boot image would cost another package and
# network boot never reads it.
#
# Needs Debian packages only (tools/setup.sh test installs them). The kernel comes from the
# package linux-image-amd64 depends on (tools/lib/debian-kernel.sh), never installed. Results
# are cached under target/test-assets/ and rebuilt only when missing or when this script
# changes, so reruns are cheap. Safe to run concurrently (one builder at a time).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: tools/build-test-isos.sh OUTDIR}
cache=$repo/target/test-assets
layouts=(casper debian-installer debian-live arch fedora-pxeboot suse-loader wimboot isolinux-only)

mkdir -p "$cache" "$out"
exec 9>"$cache/.lock"
flock 9

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The NIC drivers the unattended initramfs loads (their dependencies come along): the lab's
# BIOS guests have an e1000, its UEFI guests a virtio-net (modern) device.
nic_modules=(e1000 virtio_net virtio_pci)
# Debian's kernel and those modules, as tools/lib/debian-kernel.sh unpacks them.
kernel_dir=$cache/kernel-isos
source "$repo/tools/lib/debian-kernel.sh"

fetch_kernel() {
  [[ -s $kernel_dir/vmlinuz ]] || debian_kernel "$cache" "$kernel_dir" "${nic_modules[@]}"
}

# The installer whose unattended part a layout's initramfs plays: the kind of file it fetches
# (empty: it only reports that it booted).
install_param() {
  case $1 in
    casper) echo nocloud ;;
    debian-installer) echo preseed ;;
    fedora-pxeboot) echo kickstart ;;
  esac
}

# A gzip'd newc initramfs that reports it booted as $1 and powers off, to $2.
build_initrd() {
  local layout=$1 dest=$2 root="$work/initrd-$1" param
  param=$(install_param "$layout")
  mkdir -p "$root"/{bin,dev,proc,sys}
  install -m 0755 /bin/busybox "$root/bin/busybox"
  # Applet links made here, so /init needs nothing (not even /proc) before its first command.
  local applet
  for applet in $("$root/bin/busybox" --list); do
    [[ $applet == busybox ]] || ln -sf busybox "$root/bin/$applet"
  done
  if [[ -n $param ]]; then
    build_install_init "$layout" "$param" "$root"
  else
    cat >"$root/init" <<EOF
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for tty in /dev/ttyS0 /dev/console; do
  printf 'FLEETBOOT-TEST-BOOTED layout=%s\nFLEETBOOT-CMDLINE %s\n' '$layout' "\$(cat /proc/cmdline)" >"\$tty" 2>/dev/null
done
poweroff -f
EOF
  fi
  chmod 0755 "$root/init"
  (cd "$root" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -9n >"$dest"
}

# /init for a layout that plays an installer ($2: nocloud, preseed or kickstart): reports as
# above, then fetches the file the command line names, if any, and calls back. Adds the NIC
# modules and udhcpc's script.
build_install_init() {
  local layout=$1 param=$2 root=$3 m
  mkdir -p "$root/lib/modules" "$root/tmp" "$root/etc"
  cp "$kernel_dir"/modules/* "$root/lib/modules/"
  install -m 0755 "$repo/tools/lib/udhcpc.script" "$root/etc/udhcpc.script"
  printf '#!/bin/sh\nexport PATH=/bin\nlayout=%s\nparam=%s\n' "$layout" "$param" >"$root/init"
  cat >>"$root/init" <<'EOF'
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() {
  for tty in /dev/ttyS0 /dev/console; do
    printf '%s\n' "$@" >"$tty" 2>/dev/null
  done
}
cmdline=$(cat /proc/cmdline)
say "FLEETBOOT-TEST-BOOTED layout=$layout" "FLEETBOOT-CMDLINE $cmdline"
# The URL of the file this installer would fetch; quotes around a parameter are dropped.
url=""
for arg in $(echo "$cmdline" | tr -d '"'); do
  case $param:$arg in
    nocloud:ds=nocloud-net\;s=*|nocloud:ds=nocloud\;s=*) url="${arg#*;s=}user-data" ;;
    preseed:url=*|preseed:preseed/url=*) url="${arg#*url=}" ;;
    kickstart:inst.ks=*) url="${arg#inst.ks=}" ;;
  esac
done
[ -n "$url" ] || poweroff -f
# debian-installer also takes a URL without its scheme.
case $url in *://*) ;; *) url="http://$url" ;; esac
fail() {
  say "FLEETBOOT-INSTALL-FAILED $*"
  poweroff -f
}
while read -r m; do
  insmod "/lib/modules/$m.ko" 2>/dev/null
done </lib/modules/order
nic=""
for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
  for dev in /sys/class/net/*; do
    [ "${dev##*/}" = lo ] || { nic=${dev##*/}; break; }
  done
  [ -n "$nic" ] && break
  sleep 0.5
done
[ -n "$nic" ] || fail "no network interface"
ifconfig lo 127.0.0.1 up
udhcpc -i "$nic" -s /etc/udhcpc.script -n -q -t 10 -T 2 >/dev/null 2>&1 || fail "no DHCP lease on $nic"
timeout 30 wget -q -O /tmp/template "$url" 2>/tmp/wget.err || fail "GET $url: $(cat /tmp/wget.err)"
for tty in /dev/ttyS0 /dev/console; do
  {
    echo "FLEETBOOT-TEMPLATE-BEGIN $url"
    cat /tmp/template
    # The END marker on a line of its own, also after a file without a final newline.
    [ -z "$(tail -c 1 /tmp/template)" ] || echo
    echo "FLEETBOOT-TEMPLATE-END"
  } >"$tty" 2>/dev/null
done
done_url="${url%/*}/done"
timeout 30 wget -q -O /dev/null --post-data=ok "$done_url" 2>/tmp/wget.err || fail "POST $done_url: $(cat /tmp/wget.err)"
say "FLEETBOOT-INSTALL-DONE $done_url"
poweroff -f
EOF
}

# An empty early-microcode cpio (real ucode images are cpio archives of
# kernel/x86/microcode/*.bin); harmless in front of the real initramfs.
build_ucode() {
  local root="$work/ucode"
  mkdir -p "$root/kernel/x86/microcode"
  (cd "$root" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) >"$1"
}

# Helpers for the trees: the kernel, this layout's initramfs, text files, placeholders.
kernel() { mkdir -p "$(dirname "$1")" && cp "$kernel_dir/vmlinuz" "$1"; }
initrd() { mkdir -p "$(dirname "$1")" && cp "$initrd" "$1"; }
text() { mkdir -p "$(dirname "$1")" && printf '%s\n' "$2" >"$1"; }
placeholder() { local f; for f in "$@"; do text "$f" "fleetboot test placeholder: $(basename "$f")"; done; }

# One function per layout: fills the tree in $1 and sets $label (the volume id).

tree_casper() {
  local t=$1
  label="Ubuntu 24.04 LTS amd64"
  kernel "$t/casper/vmlinuz"
  initrd "$t/casper/initrd"
  placeholder "$t/casper/filesystem.squashfs" "$t/casper/filesystem.manifest" "$t/casper/filesystem.size" \
    "$t/.disk/casper-uuid-generic" "$t/preseed/ubuntu.seed" "$t/md5sum.txt"
  text "$t/.disk/info" 'Ubuntu 24.04 LTS "Noble Numbat" - Release amd64 (20240423)'
  text "$t/boot/grub/grub.cfg" 'menuentry "Try or Install Ubuntu" {
	linux	/casper/vmlinuz  --- quiet splash
	initrd	/casper/initrd
}'
  mkdir -p "$t/dists/noble"
}

tree_debian-installer() {
  local t=$1
  label="Debian 12.5.0 amd64 n"
  kernel "$t/install.amd/vmlinuz"
  initrd "$t/install.amd/initrd.gz"
  text "$t/.disk/info" 'Debian GNU/Linux 12.5.0 "Bookworm" - Official amd64 NETINST with firmware 20240210-11:27'
  placeholder "$t/dists/bookworm/Release" "$t/md5sum.txt" "$t/isolinux/menu.cfg"
  text "$t/isolinux/txt.cfg" 'label install
	menu label ^Install
	kernel /install.amd/vmlinuz
	append vga=788 initrd=/install.amd/initrd.gz --- quiet'
  mkdir -p "$t/pool/main"
}

tree_debian-live() {
  local t=$1
  label="d-live 12.5.0 gn amd64"
  kernel "$t/live/vmlinuz-6.1.0-18-amd64"
  initrd "$t/live/initrd.img-6.1.0-18-amd64"
  placeholder "$t/live/filesystem.squashfs" "$t/live/filesystem.packages" "$t/live/filesystem.size" "$t/md5sum.txt"
  text "$t/.disk/info" 'Debian GNU/Linux 12.5.0 "Bookworm" - Official Live amd64 20240210'
  text "$t/isolinux/live.cfg" 'label live-amd64
	menu label ^Live system (amd64)
	linux /live/vmlinuz-6.1.0-18-amd64
	initrd /live/initrd.img-6.1.0-18-amd64
	append boot=live components quiet splash'
}

tree_arch() {
  local t=$1
  label="ARCH_202405"
  kernel "$t/arch/boot/x86_64/vmlinuz-linux"
  initrd "$t/arch/boot/x86_64/initramfs-linux.img"
  build_ucode "$work/ucode.img"
  mkdir -p "$t/arch/boot"
  cp "$work/ucode.img" "$t/arch/boot/intel-ucode.img"
  cp "$work/ucode.img" "$t/arch/boot/amd-ucode.img"
  placeholder "$t/arch/x86_64/airootfs.sfs" "$t/arch/x86_64/airootfs.sha512" "$t/arch/grubenv" \
    "$t/loader/entries/01-archiso-x86_64-linux.conf"
  text "$t/arch/version" "2024.05.01"
  text "$t/arch/pkglist.x86_64.txt" 'arch-install-scripts 28-1
archinstall 2.8.0-1
base 3-2'
}

tree_fedora-pxeboot() {
  local t=$1
  label="Fedora-E-dvd-x86_64-40"
  kernel "$t/images/pxeboot/vmlinuz"
  initrd "$t/images/pxeboot/initrd.img"
  placeholder "$t/images/install.img" "$t/images/efiboot.img" "$t/.discinfo"
  text "$t/.treeinfo" '[general]
family = Fedora
name = Fedora 40
version = 40
arch = x86_64

[images-x86_64]
kernel = images/pxeboot/vmlinuz
initrd = images/pxeboot/initrd.img

[stage2]
mainimage = images/install.img'
  text "$t/EFI/BOOT/grub.cfg" "menuentry 'Install Fedora 40' {
	linuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=Fedora-E-dvd-x86_64-40 quiet
	initrdefi /images/pxeboot/initrd.img
}"
}

tree_suse-loader() {
  local t=$1
  label="openSUSE-Tumbleweed-NET-x86_64"
  kernel "$t/boot/x86_64/loader/linux"
  initrd "$t/boot/x86_64/loader/initrd"
  placeholder "$t/boot/x86_64/loader/isolinux.cfg" "$t/boot/x86_64/efi" "$t/EFI/BOOT/grub.cfg" "$t/media.1/media"
  text "$t/media.1/products" '/ openSUSE-Tumbleweed 20240501-0'
}

tree_wimboot() {
  local t=$1
  label="WINPE_AMD64"
  placeholder "$t/bootmgr" "$t/bootmgr.efi" "$t/boot/bcd" "$t/boot/boot.sdi" "$t/boot/etfsboot.com" \
    "$t/efi/microsoft/boot/bcd" "$t/sources/boot.wim"
}

tree_isolinux-only() {
  local t=$1
  label="MYDISTRO_1_0"
  kernel "$t/mykernel/bzImage"
  initrd "$t/mykernel/init.gz"
  placeholder "$t/mydistro/root.img"
  text "$t/isolinux/isolinux.cfg" 'DEFAULT mydistro
PROMPT 0
TIMEOUT 50

LABEL rescue
  MENU LABEL MyDistro rescue shell
  KERNEL /mykernel/bzImage
  INITRD /mykernel/init.gz
  APPEND mydistro.mode=rescue

LABEL mydistro
  MENU LABEL MyDistro live
  KERNEL /mykernel/bzImage
  INITRD /mykernel/init.gz
  APPEND mydistro.mode=live quiet'
}

# The ISOs live in a directory named after this script's hash (and its kernel library's), so
# editing a recipe rebuilds.
stamp=$(cat "$0" "$repo/tools/lib/debian-kernel.sh" "$repo/tools/lib/udhcpc.script" | sha256sum | cut -c1-12)
isos=$cache/isos-$stamp
if [[ ! -d $isos ]]; then
  fetch_kernel
  mkdir -p "$work/isos"
  for layout in "${layouts[@]}"; do
    initrd="$work/initrd-$layout.gz"
    build_initrd "$layout" "$initrd"
    label=""
    "tree_$layout" "$work/tree-$layout"
    if ! xorriso -as mkisofs -quiet -R -J -joliet-long -V "$label" \
        -o "$work/isos/$layout.iso" "$work/tree-$layout" 2>"$work/xorriso.log"; then
      cat "$work/xorriso.log" >&2
      exit 1
    fi
  done
  rm -rf "$cache"/isos-*
  mv "$work/isos" "$isos"
fi

for layout in "${layouts[@]}"; do
  cmp -s "$isos/$layout.iso" "$out/$layout.iso" 2>/dev/null || cp "$isos/$layout.iso" "$out/$layout.iso"
done
