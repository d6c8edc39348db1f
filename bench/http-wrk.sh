#!/usr/bin/env bash
# HTTP with a fast, non-verifying client: wrk asks random 1 MiB ranges of a 256 MiB file,
# 64 connections, against fleetboot with `--zero-copy off` (gathered writes from the mapping)
# and `--zero-copy on` (sendfile; what `auto`, the default, does for 1 MiB bodies), and nginx
# (sendfile, open_file_cache, reuseport).
#
# Per core first: every server restricted to CPU 0 (fleetboot --cores 1, nginx one worker,
# both under `taskset -c 0`), wrk on CPU 1; then both cores: servers unpinned with two cores
# or workers, wrk unpinned too (the client then competes with the server, as noted).
# Per row and run: MB/s as wrk reports it, the server's CPU (utime+stime of it and its
# children) and the whole machine's over the run from /proc/stat (user, system, softirq),
# and CPU seconds per GB sent, and how busy each CPU was (which side ran out: the server's
# CPU 0 or the client's CPU 1). Runs are interleaved (off, on, nginx, off, ...) so drift hits
# every server alike; min / median / max over RUNS runs.
#
#   bench/http-wrk.sh                       3 runs of 10 s per row
#   RUNS=1 SECONDS_PER_RUN=5 bench/http-wrk.sh   a quick look
#   BASELINE=/path/to/old/fleetboot BASELINE_NAME="fleetboot abc1234" bench/http-wrk.sh
#                                           adds a row for an older build (`--zero-copy on`),
#                                           interleaved with the others: an A/B of a change
#
# Raw wrk output and CPU samples of every run go to bench/runs/http-wrk-<date>/ (RUNS_DIR).
# Needs wrk and nginx (tools/setup.sh bench) and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
RUNS=${RUNS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CONNECTIONS=${CONNECTIONS:-64}
port=${PORT:-18180}
log() { echo "http-wrk.sh $(date +%T): $*" >&2; }

command -v wrk >/dev/null && command -v nginx >/dev/null ||
  tools/install-packages.sh wrk nginx-light procps
cargo build --release -q -p controlplane
fb=$repo/target/release/fleetboot
CLK_TCK=$(getconf CLK_TCK)
stamp=$(date +%Y%m%d-%H%M%S)
runs_dir=${RUNS_DIR:-$repo/bench/runs/http-wrk-$stamp}
mkdir -p "$runs_dir"
work=$(mktemp -d /tmp/fleetboot-http-wrk.XXXXXX)
chmod 755 "$work" # nginx workers read as nobody
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/www"
head -c $((256 << 20)) /dev/urandom >"$work/www/range.bin"
# shellcheck source=bench/lib/wrk.sh
source "$repo/bench/lib/wrk.sh"
# shellcheck source=bench/lib/nginx.sh
source "$repo/bench/lib/nginx.sh"
wrk_range_lua "$work/range.lua" 256

# shellcheck source=bench/lib/cpu.sh
source "$repo/bench/lib/cpu.sh"
wait_port() {
  for _ in $(seq 100); do
    ss -Hlnt "sport = :$1" | grep -q . && return 0
    sleep 0.1
  done
  log "nothing listens on port $1"
  return 1
}

start_fleetboot() { # BINARY CORES ZERO-COPY PIN...
  local bin=$1 cores=$2 mode=$3 data=$work/fb
  shift 3
  rm -rf "$data"
  mkdir -p "$data/files"
  ln "$work/www/range.bin" "$data/files/range.bin"
  "$@" "$bin" serve --data-dir "$data" --cores "$cores" --zero-copy "$mode" --dhcp-mode off \
    --tftp-listen 127.0.0.1:$((port + 3)) --http-listen 127.0.0.1:$port \
    --admin-listen 127.0.0.1:$((port + 2)) --http-max-per-ip 100000 \
    >"$work/fb.out" 2>"$work/fb.err" &
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 300); do
    grep -q '^fleetboot ready' "$work/fb.out" && return 0
    sleep 0.1
  done
  log "fleetboot did not start:"
  cat "$work/fb.err" >&2
  return 1
}
start_nginx() { # WORKERS PIN...
  local workers=$1 n=$work/nginx
  shift
  nginx_conf "$n" "$workers" 127.0.0.1:$port "$work/www"
  "$@" nginx -p "$n" -e "$n/error.log" -c "$n/nginx.conf" &
  server_pid=$!
  pids+=("$server_pid")
  wait_port "$port"
}
stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  sleep 0.5 # the port is free again
}

# One run: wrk against whatever listens; appends a line to the row's TSV.
one_run() { # ROW SERVER RUN CLIENT-PIN...
  local row=$1 server=$2 r=$3 out ticks0 ticks1 sys0 sys1 cpus0 cpus1 mbs
  shift 3
  out=$runs_dir/$row/$server-$r.txt
  mkdir -p "$runs_dir/$row"
  # The file is read back right before, so every server starts from a warm page cache.
  cat "$work/www/range.bin" >/dev/null
  ticks0=$(cpu_ticks "$server_pid")
  sys0=$(sys_ticks)
  cpus0=$(per_cpu_ticks)
  "$@" wrk -t"$threads" -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" -s "$work/range.lua" \
    "http://127.0.0.1:$port/files/range.bin" >"$out" 2>&1
  cpus1=$(per_cpu_ticks)
  sys1=$(sys_ticks)
  ticks1=$(cpu_ticks "$server_pid")
  kill -0 "$server_pid" 2>/dev/null || { log "$server died"; echo "died" >>"$out"; return 1; }
  # wrk prints "Transfer/sec: 1.23GB"; non-2xx answers would be errors, not bytes.
  mbs=$(awk '/^Transfer\/sec/ {v=$2; u=substr(v, length(v)-1); n=v+0;
      if (u=="GB") n*=1024; else if (u=="KB") n/=1024; printf "%.0f", n * 1.048576}' "$out")
  if grep -q "Non-2xx" "$out"; then mbs=0; fi
  read -r u0 s0 q0 b0 t0 <<<"$sys0"
  read -r u1 s1 q1 b1 t1 <<<"$sys1"
  awk -v row="$row" -v server="$server" -v r="$r" -v mbs="$mbs" -v st=$((ticks1 - ticks0)) \
    -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v q=$((q1 - q0)) -v b=$((b1 - b0)) -v t=$((t1 - t0)) \
    -v h="$CLK_TCK" -v secs="$SECONDS_PER_RUN" \
    -v cpu0="$(busy_percent 0 "$cpus0" "$cpus1")" -v cpu1="$(busy_percent 1 "$cpus0" "$cpus1")" 'BEGIN {
      gb = mbs * secs / 1000;
      printf "%s\t%s\t%s\t%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.0f\t%.2f\t%.2f\t%s\t%s\n", row, server, r, mbs,
        st / h, u / h, s / h, q / h, 100 * b / (t ? t : 1),
        gb ? st / h / gb : 0, gb ? b / h / gb : 0, cpu0, cpu1 }' >>"$results"
  log "$(tail -1 "$results")"
}

servers=(fleetboot-off fleetboot-on nginx)
[[ -z ${BASELINE:-} ]] || servers=(baseline-on "${servers[@]}")
results=$runs_dir/runs.tsv
printf 'row\tserver\trun\tMB_s\tserver_cpu_s\tsystem_user_s\tsystem_sys_s\tsystem_softirq_s\tbusy_pct\tserver_cpu_s_per_GB\tsystem_cpu_s_per_GB\tcpu0_busy_pct\tcpu1_busy_pct\n' >"$results"

row() { # ROW CORES THREADS SERVER-PIN CLIENT-PIN
  local row=$1 cores=$2 r
  threads=$3
  local -a server_pin client_pin
  read -ra server_pin <<<"$4"
  read -ra client_pin <<<"$5"
  for r in $(seq "$RUNS"); do
    for server in "${servers[@]}"; do
      case $server in
        baseline-on) start_fleetboot "$BASELINE" "$cores" on "${server_pin[@]}" ;;
        fleetboot-*) start_fleetboot "$fb" "$cores" "${server#fleetboot-}" "${server_pin[@]}" ;;
        nginx) start_nginx "$cores" "${server_pin[@]}" ;;
      esac
      one_run "$row" "$server" "$r" "${client_pin[@]}" || true
      stop_server
    done
  done
}
log "one core: servers on CPU 0, wrk on CPU 1"
row one-core 1 1 "taskset -c 0" "taskset -c 1"
if (($(nproc) > 1)); then
  log "both cores: nothing pinned"
  row both-cores "$(nproc)" 2 "" ""
fi

summary=$runs_dir/summary.md
{
  echo "wrk -c$CONNECTIONS, random 1 MiB ranges of a 256 MiB file, ${SECONDS_PER_RUN} s per run, $RUNS run(s);"
  echo "fleetboot $(git rev-parse --short HEAD), $(nginx -v 2>&1 | sed 's/.*: //'), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), Linux $(uname -r), $(nproc) CPUs."
  [[ -z ${BASELINE:-} ]] || echo "baseline-on: ${BASELINE_NAME:-an older build}, --zero-copy on."
  echo "min / median / max over the runs; CPU in seconds over the run; per GB: CPU seconds per 10^9 bytes sent."
  for r in one-core both-cores; do
    grep -q "^$r	" "$results" || continue
    echo
    echo "### $r"
    echo
    echo "| server | MB/s | server CPU s | system user s | system sys s | system softirq s | busy % | server CPU s/GB | system CPU s/GB | CPU 0 busy % | CPU 1 busy % |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    for s in "${servers[@]}"; do
      awk -F'\t' -v r="$r" -v s="$s" '$1 == r && $2 == s' "$results" | awk -F'\t' -v s="$s" '
        { for (c = 4; c <= 13; c++) v[c, NR] = $c; n = NR }
        function stat(c,   i, j, t, a) {
          for (i = 1; i <= n; i++) a[i] = v[c, i] + 0
          for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
          return sprintf("%g / %g / %g", a[1], (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2), a[n])
        }
        END { if (n) { printf "| %s |", s; for (c = 4; c <= 13; c++) printf " %s |", stat(c); print "" } }'
    done
  done
  echo
  echo "raw runs: ${runs_dir#"$repo"/}"
} >"$summary"
cat "$summary"
