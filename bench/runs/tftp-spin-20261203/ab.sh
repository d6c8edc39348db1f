#!/usr/bin/env bash
# ad-hoc: one TFTP client ws16 (and no window) against fleetboot --cores 1 pinned
set -euo pipefail
tag=$1
repo=$(cd "$(dirname "$0")/../../.." && pwd)
ns=abspin$$
ip netns add $ns; ip -n $ns link set lo up
trap 'kill $fb 2>/dev/null; ip netns del $ns; rm -rf $d' EXIT
d=$(mktemp -d); mkdir -p $d/data/files; head -c $((32<<20)) /dev/urandom > $d/data/files/big.bin
ip netns exec $ns taskset -c 0 $repo/target/release/fleetboot serve --data-dir $d/data --cores 1 --dhcp-mode off \
  --tftp-listen 127.0.0.1:7000 --http-listen 127.0.0.1:7001 --admin-listen 127.0.0.1:7002 >$d/out 2>$d/err &
fb=$!
for _ in $(seq 100); do grep -q '^fleetboot ready' $d/out && break; sleep 0.1; done
for r in 1 2 3 4 5 6; do
  for ws in 16 none; do
    args=(--windowsize 16); [[ $ws == none ]] && args=()
    t0=$(awk '{print $14+$15}' /proc/$fb/stat)
    out=$(ip netns exec $ns taskset -c 1 $repo/target/release/tftp-storm 127.0.0.1:7000 --local $d/data/files/big.bin --file files/big.bin --clients 1 --blksize 1468 "${args[@]}")
    t1=$(awk '{print $14+$15}' /proc/$fb/stat)
    echo "$tag ws=$ws run=$r $(grep -o 'mib_s=[0-9.]*' <<<"$out") server_ticks=$((t1-t0))"
  done
done
