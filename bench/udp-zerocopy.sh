#!/usr/bin/env bash
# TFTP's send path with and without MSG_ZEROCOPY (issue 16's study): `udp-zerocopy send`
# pushes a memory-mapped 256 MiB file as TFTP windows do (windows of 16 datagrams, each a
# 4-byte header and a 1468-byte slice of the mapping) to `udp-zerocopy sink`, over loopback
# and over a veth pair into a namespace (the path a lab machine takes). Modes: `copy16`, the
# data plane's (one GSO send per window); `zerocopy16`, the same with MSG_ZEROCOPY (the kernel
# refuses it: 32 iovecs exceed an skb's 17 page fragments, EMSGSIZE, recorded as a failed
# run); `copy4` and `zerocopy4`, four datagrams per GSO send, where zerocopy fits. Sender on CPU 0, sink
# on CPU 1; runs interleaved (off, on, off, ...); per run the sender's own CPU (getrusage) and
# the whole machine's from /proc/stat, per GiB sent; min / median / max over RUNS runs.
#
#   bench/udp-zerocopy.sh            5 runs per row
#   RUNS=1 bench/udp-zerocopy.sh     a quick look
#
# Raw output goes to bench/runs/udp-zerocopy-<date>/ (RUNS_DIR). Needs root (a namespace).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
RUNS=${RUNS:-5}
ROUNDS=${ROUNDS:-8} # 8 × 256 MiB = 2 GiB per run
[[ $(id -u) -eq 0 ]] || { echo "udp-zerocopy.sh: needs root (network namespaces)" >&2; exit 1; }
cargo build --release -q -p bench --bin udp-zerocopy
tool=$repo/target/release/udp-zerocopy
# shellcheck source=bench/lib/cpu.sh
source "$repo/bench/lib/cpu.sh"
CLK_TCK=$(getconf CLK_TCK)
stamp=$(date +%Y%m%d-%H%M%S)
runs_dir=${RUNS_DIR:-$repo/bench/runs/udp-zerocopy-$stamp}
mkdir -p "$runs_dir"
work=$(mktemp -d /tmp/fleetboot-udp-zerocopy.XXXXXX)
ns=fbz$$
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
head -c $((256 << 20)) /dev/urandom >"$work/file.bin"

# The veth path: a sink namespace behind a veth pair (no loopback shortcut in the route).
ip netns add "$ns"
ip link add zc0 type veth peer name zc1 netns "$ns"
ip addr add 10.215.0.1/24 dev zc0
ip link set zc0 up
ip -n "$ns" addr add 10.215.0.2/24 dev zc1
ip -n "$ns" link set zc1 up

results=$runs_dir/runs.tsv
printf 'path\tmode\trun\tsent_MiB_s\tsender_cpu_s_per_GiB\tmachine_cpu_s_per_GiB\treceived_pct\tcompleted\tcopied\n' >"$results"
one_run() { # PATH MODE RUN
  local path=$1 mode=$2 r=$3 flag=() sink=() target out s0 s1 sink_pid
  [[ $mode == zerocopy* ]] && flag=(--zerocopy)
  flag+=(--per-send "${mode##*[a-z]}")
  if [[ $path == loopback ]]; then target=127.0.0.1:9400; else target=10.215.0.2:9400; sink=(ip netns exec "$ns"); fi
  out=$runs_dir/$path-$mode-$r
  "${sink[@]}" taskset -c 1 "$tool" sink "$target" >"$out.sink" &
  sink_pid=$!
  sleep 0.3
  cat "$work/file.bin" >/dev/null
  s0=$(sys_ticks)
  if ! taskset -c 0 "$tool" send "$target" --file "$work/file.bin" --rounds "$ROUNDS" "${flag[@]}" \
    >"$out.send" 2>"$out.err"; then
    kill "$sink_pid" 2>/dev/null || true
    wait "$sink_pid" 2>/dev/null || true
    printf '%s\t%s\t%s\tfailed: %s\t\t\t\t\t\n' "$path" "$mode" "$r" "$(cat "$out.err")" >>"$results"
    tail -1 "$results" >&2
    return 0
  fi
  s1=$(sys_ticks)
  wait "$sink_pid"
  echo "proc_stat_before=$s0 proc_stat_after=$s1" >>"$out.send"
  awk -v path="$path" -v mode="$mode" -v r="$r" -v a="$s0" -v b="$s1" -v h="$CLK_TCK" '
    function f(k,   i, kv) { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] } }
    FILENAME ~ /sink$/ { received = f("bytes") + 0; next }
    /^send / { sent = f("bytes"); mibs = f("mib_s"); cpu = f("cpu_s_per_gib"); done = f("completed"); copied = f("copied") }
    END {
      split(a, x, " "); split(b, y, " ")
      gib = sent / 2^30
      printf "%s\t%s\t%s\t%s\t%s\t%.3f\t%.1f\t%s\t%s\n", path, mode, r, mibs, cpu,
        (y[4] - x[4]) / h / gib, 100 * received / sent, done, copied
    }' "$out.sink" "$out.send" >>"$results"
  tail -1 "$results" >&2
}
for r in $(seq "$RUNS"); do
  for path in loopback veth; do
    for mode in copy16 zerocopy16 copy4 zerocopy4; do one_run "$path" "$mode" "$r"; done
  done
done

{
  echo "udp-zerocopy: $ROUNDS × 256 MiB per run as windows of 16 datagrams of 4 + 1468 bytes, 16 or 4 per GSO send; $RUNS run(s);"
  echo "fleetboot $(git rev-parse --short HEAD), Linux $(uname -r), $(nproc) CPUs; sender CPU 0, sink CPU 1. min / median / max."
  echo
  echo "| path | mode | sent MiB/s | sender CPU s/GiB | machine CPU s/GiB | received % | zerocopy sends completed / copied |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  for path in loopback veth; do
    for mode in copy16 zerocopy16 copy4 zerocopy4; do
      if awk -F'\t' -v p="$path" -v m="$mode" '$1 == p && $2 == m && $4 ~ /^failed/' "$results" | grep -q .; then
        printf '| %s | %s | %s |  |  |  |  |\n' "$path" "$mode" \
          "$(awk -F'\t' -v p="$path" -v m="$mode" '$1 == p && $2 == m && $4 ~ /^failed/ {print $4; exit}' "$results")"
        continue
      fi
      awk -F'\t' -v p="$path" -v m="$mode" '$1 == p && $2 == m' "$results" | awk -F'\t' -v p="$path" -v m="$mode" '
        { for (c = 4; c <= 9; c++) v[c, NR] = $c; n = NR }
        function stat(c,   i, j, t, a) {
          for (i = 1; i <= n; i++) a[i] = v[c, i] + 0
          for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
          return sprintf("%g / %g / %g", a[1], (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2), a[n])
        }
        END { if (n) printf "| %s | %s | %s | %s | %s | %s | %s / %s |\n", p, m, stat(4), stat(5), stat(6), stat(7), v[8, n], v[9, n] }'
    done
  done
  echo
  echo "raw runs: ${runs_dir#"$repo"/}"
} | tee "$runs_dir/summary.md"
