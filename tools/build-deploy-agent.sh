#!/usr/bin/env bash
# Builds fleetboot's deploy agent: `tools/build-deploy-agent.sh OUTDIR` writes OUTDIR/vmlinuz
# and OUTDIR/initrd.img, the Linux system a machine boots to receive a disk image over
# multicast (`fleetboot deploy create`). `fleetboot serve` serves it from DATA/agent/:
#   tools/build-deploy-agent.sh /var/lib/fleetboot/agent
#
# The kernel is Debian's amd64 kernel (tools/lib/debian-kernel.sh); the initramfs holds
# busybox-static, the NIC and disk modules of real fleets and of QEMU with their dependencies,
# and the static `fleetboot-receive` (tools/build-receiver.sh). Its /init reads
#   fleetboot.manifest=URL fleetboot.disk=DEV fleetboot.done=URL fleetboot.progress=URL
#   fleetboot.name=MAC
# from the kernel command line, loads the modules, brings up the NIC whose MAC is
# fleetboot.name with udhcpc, waits for the disk, POSTs `receiving` to the progress URL, runs
#   fleetboot-receive MANIFEST --output DEV --name MAC
# and then either POSTs to the done URL and prints FLEETBOOT-DEPLOY-DONE, or POSTs
# `failed: <reason>` to the progress URL and prints FLEETBOOT-DEPLOY-FAILED <reason>; then
# syncs and reboots (the machine's next boot script sends it to its disk).
#
# Needs Debian packages (busybox-static, cpio) and a Rust toolchain. Cached under
# target/test-assets/, rebuilt when this script, the kernel library or the receiver changes.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: tools/build-deploy-agent.sh OUTDIR}
cache=$repo/target/test-assets
# NICs: QEMU's e1000 and virtio-net, Intel's 1/10 GbE, Realtek's; disks: virtio, SATA (AHCI),
# SCSI disks, NVMe. virtio_pci is the transport virtio devices sit on.
modules=(e1000 e1000e igb ixgbe r8169 virtio_net virtio_blk virtio_scsi ahci sd_mod nvme virtio_pci)

mkdir -p "$cache" "$out"
receiver=$("$repo/tools/build-receiver.sh" | tail -n 1)
# It names its binary relative to the repository.
[[ $receiver == /* ]] || receiver=$repo/$receiver
[[ -x $receiver ]] || { echo "build-deploy-agent: tools/build-receiver.sh gave no binary" >&2; exit 1; }

exec 9>"$cache/.lock"
flock 9

stamp=$(cat "$0" "$repo/tools/lib/debian-kernel.sh" "$repo/tools/lib/udhcpc.script" "$receiver" | sha256sum | cut -c1-12)
agent=$cache/deploy-agent-$stamp
if [[ ! -s $agent/initrd.img ]]; then
  source "$repo/tools/lib/debian-kernel.sh"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  debian_kernel "$cache" "$work/kernel" "${modules[@]}"
  root=$work/root
  mkdir -p "$root"/{bin,dev,proc,sys,tmp,etc,lib/modules}
  install -m 0755 /bin/busybox "$root/bin/busybox"
  # Applet links made here, so /init needs nothing (not even /proc) before its first command.
  for applet in $("$root/bin/busybox" --list); do
    [[ $applet == busybox ]] || ln -sf busybox "$root/bin/$applet"
  done
  install -m 0755 "$receiver" "$root/bin/fleetboot-receive"
  cp "$work/kernel/modules/"* "$root/lib/modules/"
  install -m 0755 "$repo/tools/lib/udhcpc.script" "$root/etc/udhcpc.script"
  cat >"$root/init" <<'EOF'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# A zstd image's spool: tmpfs frees what is already unpacked (the initramfs root may not).
mount -t tmpfs -o mode=1777 tmpfs /tmp
say() {
  for tty in /dev/ttyS0 /dev/console; do
    printf '%s\n' "$@" >"$tty" 2>/dev/null
  done
}
# POSTs $2 to $1, a few times: a lost callback would leave the machine unaccounted for.
post() {
  for _ in 1 2 3 4 5; do
    timeout 20 wget -q -O /dev/null --post-data="$2" "$1" 2>/dev/null && return 0
    sleep 2
  done
  return 1
}
finish() {
  sync
  sleep 1
  reboot -f
}
fail() {
  say "FLEETBOOT-DEPLOY-FAILED $*"
  [ -n "$progress" ] && post "$progress" "failed: $*"
  finish
}
manifest="" disk="" done_url="" progress="" name=""
for arg in $(cat /proc/cmdline); do
  case $arg in
    fleetboot.manifest=*) manifest=${arg#*=} ;;
    fleetboot.disk=*) disk=${arg#*=} ;;
    fleetboot.done=*) done_url=${arg#*=} ;;
    fleetboot.progress=*) progress=${arg#*=} ;;
    fleetboot.name=*) name=${arg#*=} ;;
  esac
done
say "fleetboot deploy agent: $manifest to $disk as $name"
[ -n "$manifest" ] && [ -n "$disk" ] && [ -n "$done_url" ] && [ -n "$name" ] ||
  fail "kernel command line lacks fleetboot.manifest, .disk, .done or .name"
while read -r m; do
  insmod "/lib/modules/$m.ko" 2>/dev/null
done </lib/modules/order
want=$(echo "$name" | tr 'A-F' 'a-f')
nic=""
for _ in $(seq 1 40); do
  for dev in /sys/class/net/*; do
    [ "$(cat "$dev/address" 2>/dev/null)" = "$want" ] && nic=${dev##*/}
  done
  [ -n "$nic" ] && break
  sleep 0.5
done
[ -n "$nic" ] || fail "no network interface with MAC $name"
ifconfig lo 127.0.0.1 up
udhcpc -i "$nic" -s /etc/udhcpc.script -n -q -t 10 -T 2 >/dev/null 2>&1 || fail "no DHCP lease on $nic"
# Groups go out of this NIC whatever the routes (the network may have no default route).
route add -net 224.0.0.0 netmask 240.0.0.0 dev "$nic"
for _ in $(seq 1 60); do
  [ -b "$disk" ] && break
  sleep 0.5
done
[ -b "$disk" ] || fail "no disk $disk"
[ -n "$progress" ] && post "$progress" "receiving"
# The receiver's progress goes to the console; its last error line is the failure's reason.
{
  fleetboot-receive "$manifest" --output "$disk" --name "$name"
  echo $? >/tmp/receive.rc
} 2>&1 | tee /tmp/receive.log >/dev/console
rc=$(cat /tmp/receive.rc)
if [ "$rc" != 0 ]; then
  reason=$(grep 'error:' /tmp/receive.log | tail -n 1 | sed 's/.*error: *//')
  fail "${reason:-fleetboot-receive exited with status $rc}"
fi
sync
post "$done_url" "ok" || fail "POST $done_url failed"
say "FLEETBOOT-DEPLOY-DONE"
finish
EOF
  chmod 0755 "$root/init"
  mkdir -p "$work/agent"
  install -m 0644 "$work/kernel/vmlinuz" "$work/agent/vmlinuz"
  (cd "$root" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -9n >"$work/agent/initrd.img"
  rm -rf "$cache"/deploy-agent-*
  mv "$work/agent" "$agent"
fi

for f in vmlinuz initrd.img; do
  cmp -s "$agent/$f" "$out/$f" 2>/dev/null || cp "$agent/$f" "$out/$f"
done
