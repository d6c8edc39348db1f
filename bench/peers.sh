#!/usr/bin/env bash
# Side-by-side load test of fleetboot and its peers on one machine, in one run, over loopback
# (and a veth pair for proxyDHCP), every server serving the same files (hard links):
#   TFTP   fleetboot vs atftpd vs tftpd-hpa vs dnsmasq    (tftp-storm)
#   HTTP   fleetboot vs nginx (sendfile, open_file_cache, reuseport): the verifying client
#          (http-range) and a fast one that verifies nothing (wrk); iperf3's loopback limit
#   DHCP   fleetboot vs dnsmasq proxyDHCP    (dhcp-storm)
#   boot   500 machines through the whole chain (boot-storm): fleetboot alone vs what users
#          run instead, dnsmasq (proxyDHCP + TFTP) + nginx serving the ISO's extracted files
#
# Every section runs twice. "1 core": each server restricted to CPU 0 (`taskset -c 0`, and
# fleetboot --cores 1, nginx one worker), the load client on CPU 1: a per-core comparison.
# Then "N cores": nothing pinned, fleetboot on every core, nginx a worker per core.
# Servers take turns run by run (run 1 of each, then run 2, ...), so drift of the machine hits
# every server alike. Per row and server: min / median / max of RUNS runs; the server's CPU
# (utime+stime of its processes and threads: a cpuacct cgroup per server where the machine
# allows, else /proc/PID/stat) and the whole machine's (/proc/stat: user + system + softirq +
# irq) per GiB the client verified; ratios against fleetboot's row from medians.
# A server that dies during a row gets no ratio. Raw per-run output (the client's summary,
# the CPU samples) goes to bench/runs/peers-<date>/ (RUNS_DIR), with the table as summary.md.
#
#   bench/peers.sh            RUNS=5 (override with RUNS=N)
#   bench/peers.sh --quick    RUNS=1, shorter HTTP and idle phases
#   SECTIONS="dhcp boot" bench/peers.sh    only some of: tftp http dhcp boot (default all)
#   PIN_MODES=one-core bench/peers.sh      only the pinned pass (or both-cores)
#   ZERO_COPY=on bench/peers.sh            fleetboot's --zero-copy (default auto), for an A/B
#   FLEETBOOT=/path/to/fleetboot bench/peers.sh   another build of fleetboot (an A/B of two builds)
# Needs root: it runs in network namespaces of its own.
set -euo pipefail

quick=0
[[ ${1:-} == --quick ]] && quick=1
RUNS=${RUNS:-$((quick ? 1 : 5))}
HTTP_SECS=${HTTP_SECS:-$((quick ? 4 : 10))}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_HOLD=${IDLE_HOLD:-$((quick ? 5 : 20))}
SMALL_CLIENTS=${SMALL_CLIENTS:-10000}
DHCP_COUNT=${DHCP_COUNT:-50000}
DHCP_RATES=${DHCP_RATES:-25000 100000}
BOOT_MACHINES=${BOOT_MACHINES:-500}
SECTIONS=${SECTIONS:-tftp http dhcp boot}
ZERO_COPY=${ZERO_COPY:-auto}
PIN_MODES=${PIN_MODES:-one-core both-cores}
want() { [[ " $SECTIONS " == *" $1 "* ]]; }

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
bin=$repo/target/release
fb=${FLEETBOOT:-$bin/fleetboot} # FLEETBOOT=PATH: another build of fleetboot, for an A/B
# tftpd-hpa conflicts with atftpd as a Debian package: its binary is unpacked here instead.
hpa=$repo/target/bench-peers/tftpd-hpa/usr/sbin/in.tftpd

# The whole run happens in a namespace of its own: its loopback carries no one else's traffic,
# port 69 is free for dnsmasq, and its ephemeral port range can be widened for 10,000 transfers
# at once (client and server each take a port per transfer) without touching the host's.
if [[ -z ${PEERS_NETNS:-} ]]; then
  [[ $(id -u) -eq 0 ]] || { echo "peers.sh: needs root (network namespaces)" >&2; exit 1; }
  tools/install-packages.sh atftpd nginx-light iperf3 dnsmasq-base iproute2 curl procps wrk \
    libwrap0 xorriso util-linux
  if [[ ! -x $hpa ]]; then
    deb=$(mktemp -d)
    (cd "$deb" && apt-get download -q tftpd-hpa >/dev/null 2>&1)
    mkdir -p "$repo/target/bench-peers/tftpd-hpa"
    dpkg-deb -x "$deb"/tftpd-hpa_*.deb "$repo/target/bench-peers/tftpd-hpa"
    rm -rf "$deb"
  fi
  # The build embeds iPXE from .bootloaders/, and the boot storm's chain serves the same file.
  [[ -f .bootloaders/undionly.kpxe ]] || tools/fetch-ipxe.sh >/dev/null
  cargo build --release -q -p controlplane -p bench --bins
  tools/build-test-isos.sh target/test-assets/iso-layouts >/dev/null
  stamp=$(date +%Y%m%d-%H%M%S)
  export RUNS_DIR=${RUNS_DIR:-$repo/bench/runs/peers-$stamp}
  mkdir -p "$RUNS_DIR"
  ns=fbp$$
  ip netns add "$ns"
  trap 'ip netns del "$ns"' EXIT
  trap 'exit 130' INT TERM
  ip -n "$ns" link set lo up
  # tftpd-hpa resolves its --address with AI_ADDRCONFIG, which ignores loopback: with no other
  # IPv4 address in the namespace it finds none and exits.
  ip -n "$ns" link add addr0 type veth peer name addr1
  ip -n "$ns" addr add 10.214.0.1/32 dev addr0
  ip -n "$ns" link set addr0 up
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="10000 65000"
  PEERS_NETNS=$ns ip netns exec "$ns" "$repo/bench/peers.sh" "$@" | tee "$RUNS_DIR/summary.md"
  exit "${PIPESTATUS[0]}"
fi

runs_dir=$RUNS_DIR
work=$(mktemp -d /tmp/fleetboot-peers.XXXXXX)
chmod 755 "$work" # atftpd, tftpd-hpa, dnsmasq and nginx workers read as nobody
pids=()
netns=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for n in "${netns[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  cpu_groups_remove
  umount "$work/cpuacct" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ulimit -n "$(ulimit -Hn)" # 10,000 transfers or connections, each one descriptor, both ends
port=7000 # below the namespace's ephemeral range
CLK_TCK=$(getconf CLK_TCK)
log() { echo "peers.sh $(date +%T): $*" >&2; }

# ---- files: one copy of each, hard-linked into every server's root ----
files=$work/files
mkdir -p "$files"
head -c $((32 << 20)) /dev/urandom >"$files/big.bin"
head -c $((64 << 10)) /dev/urandom >"$files/small.bin"
head -c $((256 << 20)) /dev/urandom >"$files/range.bin"
truncate -s 4G "$files/huge.iso" # sparse: the RSS test is about mappings, not disk
chmod 644 "$files"/*
link_files() { mkdir -p "$1" && chmod 755 "$1" && ln "$files"/* "$1"/; }

iso_dir=$repo/target/test-assets/iso-layouts
ipxe_dir=$repo/.bootloaders # the iPXE builds tools/fetch-ipxe.sh embedded

# ---- helpers ----
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }
num() { local v; v=$(field "$1" "$2"); echo "${v:-0}"; }
median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) print ""; else if (NR%2) print v[(NR+1)/2]; else printf "%.3g\n", (v[NR/2]+v[NR/2+1])/2}'; }
spread() { sort -g | awk '{v[NR]=$1} END {if (NR) printf "%s / %s / %s", v[1], (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2), v[NR]}'; }
# shellcheck source=bench/lib/cpu.sh
source "$repo/bench/lib/cpu.sh"
# `ip netns exec` mounts a fresh /sys without the cgroup hierarchies: the cpuacct one is
# mounted again for this run, for the servers' CPU (lib/cpu.sh); without it, /proc/PID/stat.
cpuacct_root=$work/cpuacct
mkdir -p "$cpuacct_root"
mount -t cgroup -o cpuacct cpuacct "$cpuacct_root" 2>/dev/null || cpuacct_root=$work/no-cpuacct
# shellcheck source=bench/lib/nginx.sh
source "$repo/bench/lib/nginx.sh"
# shellcheck source=bench/lib/wrk.sh
source "$repo/bench/lib/wrk.sh"
wait_port() { # PROTO ADDR:PORT [NETNS]
  local ns=()
  [[ -n ${3:-} ]] && ns=(ip netns exec "$3")
  for _ in $(seq 100); do
    "${ns[@]}" ss -Hln"${1:0:1}" "sport = :${2##*:}" | grep -q . && return 0
    sleep 0.1
  done
  log "nothing listens on $1 $2"
  return 1
}
stop() { local p; for p in "$@"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
make_netns() { # NAME: a namespace with loopback up
  ip netns add "$1"
  netns+=("$1")
  ip -n "$1" link set lo up
}

# ---- pinning: "one-core" (servers on CPU 0, clients on CPU 1) or "both-cores" ----
spin=() cpin=() cores=1 label=""
set_mode() {
  if [[ $1 == one-core ]]; then
    spin=(taskset -c 0) cpin=(taskset -c 1) cores=1 label="1 core"
  else
    spin=() cpin=() cores=$(nproc) label="$(nproc) cores"
  fi
}
modes=()
for m in $PIN_MODES; do
  [[ $m == one-core && $(nproc) -lt 2 ]] && { log "one CPU: no pinned pass"; continue; }
  modes+=("$m")
done

# ---- measurement: one run of a client command against server PIDS ----
# Each section measures its servers in turn RUNS times (run 1 of every server, then run 2, ...),
# so that the machine's drift, which on a shared host moves a rate by half within minutes, hits
# every server alike. A run's numbers go to $work/runs; `summarize` turns each row's runs into
# "row|server|median|spread|unit|cpu/GiB|system cpu/GiB|softirq s|failures|p99|note|died"
# lines in $work/rows, in the order the rows were first met.
runs_store=$work/runs
mkdir -p "$runs_store"
order=$work/order
: >"$order"
results=$work/rows
slug() { tr -cs 'A-Za-z0-9' '-' <<<"$1" | sed 's/^-//; s/-$//'; }
portable() { # TEXT: with this machine's paths as the repository and $WORK see them
  local text=${1//"$repo"\//}
  echo "${text//"$work"/\$WORK}"
}
measure() { # ROW SERVER "PID..." METRIC UNIT CMD... (CMD prints a key=value summary line)
  local row="[$label] $1" server=$2 server_pids=$3 metric=$4 unit=$5
  shift 5
  local out ticks s0 s1 c0 c1 p0 p1 bytes dir raw r store busy="" cpu="" syscpu="" sys sirq note="" died=0 pid
  dir=$runs_dir/$(slug "$row")
  store=$runs_store/$(slug "$row")--$(slug "$server").tsv
  mkdir -p "$dir"
  grep -qxF "$row|$server|$unit|$store" "$order" || echo "$row|$server|$unit|$store" >>"$order"
  r=1
  [[ -f $store ]] && r=$(($(wc -l <"$store") + 1))
  raw=$dir/$(slug "$server")-$r
  ticks=$(server_ticks $server_pids)
  s0=$(sys_ticks)
  c0=$(per_cpu_ticks)
  p0=$(packets_in)
  out=$("$@" 2>"$raw.stderr" || true)
  p1=$(packets_in)
  c1=$(per_cpu_ticks)
  s1=$(sys_ticks)
  ticks=$(($(server_ticks $server_pids) - ticks))
  [[ -s $raw.stderr ]] || rm -f "$raw.stderr"
  printf '%s\n%s\nserver_ticks=%s clk_tck=%s\nproc_stat_before(user system softirq busy total)=%s\nproc_stat_after=%s\nper_cpu_before(busy/total, cpu0 first)=%s\nper_cpu_after=%s\npackets_in_before(tcp_segs udp_datagrams, client namespace)=%s\npackets_in_after=%s\n' \
    "$(portable "$*")" "$out" "$ticks" "$CLK_TCK" "$s0" "$s1" "$c0" "$c1" "$p0" "$p1" >"$raw.txt"
  [[ ${#cpin[@]} -gt 0 ]] && busy=$(busy_percent 1 "$c0" "$c1")
  for pid in $server_pids; do
    kill -0 "$pid" 2>/dev/null || died=1
  done
  ((died == 0)) || ticks="" # a dead server's CPU can no longer be read
  read -r sys sirq < <(awk -v a="$s0" -v b="$s1" -v h="$CLK_TCK" 'BEGIN {
    split(a, x, " "); split(b, y, " "); printf "%.2f %.2f\n", (y[4] - x[4]) / h, (y[3] - x[3]) / h }')
  bytes=$(num bytes "$out")
  if [[ ${bytes%.*} -gt 0 && -n $ticks ]]; then
    cpu=$(awk -v t="$ticks" -v h="$CLK_TCK" -v b="$bytes" 'BEGIN {printf "%.3f", t / h / (b / 2^30)}')
    syscpu=$(awk -v s="$sys" -v b="$bytes" 'BEGIN {printf "%.3f", s / (b / 2^30)}')
  fi
  if [[ -n $(field windowsize "$out") ]]; then
    note="granted blksize $(field blksize "$out"), windowsize $(field windowsize "$out")"
  fi
  local missing=0
  if [[ -z $out ]]; then
    log "$row/$server run $r: no summary"
    sys="" sirq="" missing=1
  fi
  # value, server CPU/GiB, machine CPU/GiB, softirq s, server s, machine s, p99, client busy %,
  # failures, note, died
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(field "$metric" "$out")" "$cpu" "$syscpu" \
    "$sirq" "${ticks:+$(awk -v t="$ticks" -v h="$CLK_TCK" 'BEGIN {printf "%.2f", t / h}')}" "$sys" \
    "$(field p99_ms "$out")" "$busy" \
    "$((missing + $(num failed "$out") + $(num lost "$out") + $(num wrong "$out") ))" \
    "$note" "$died" >>"$store"
  log "$row/$server run $r: $(tail -1 "$store" | tr '\t' ' ')"
}
note_row() { # ROW SERVER VALUE FAILURES NOTE: a row measured by hand, once
  local row="[$label] $1" store
  store=$runs_store/$(slug "$row")--$(slug "$2").note
  printf '%s|%s|%s|%s|||||%s||%s|\n' "$row" "$2" "$3" "$3" "$4" "$5" >"$store"
  echo "$row|$2||$store" >>"$order"
  log "$(cat "$store")"
}
summarize() { # every row of $order, as a line of $work/rows
  local row server unit store note died
  : >"$results"
  col() { cut -f"$1" "$store" | grep . || true; }
  while IFS='|' read -r row server unit store; do
    if [[ $store == *.note ]]; then
      cat "$store" >>"$results"
      continue
    fi
    note=$(col 10 | tail -1)
    [[ -n $(col 8) ]] && note="${note:+$note; }the client's CPU 1 busy $(col 8 | median) %"
    [[ -z $(col 2) ]] && note="${note:+$note; }CPU per run: server $(col 5 | median) s, machine $(col 6 | median) s"
    died=""
    if col 11 | grep -qx 1; then
      died=died
      note="the server died during the row ($(tail -1 "$work/server.err" 2>/dev/null))"
    fi
    printf '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$row" "$server" \
      "$(col 1 | median)" "$(col 1 | spread)" "$unit" "$(col 2 | median)" "$(col 3 | median)" \
      "$(col 4 | median)" "$(col 9 | awk '{n += $1} END {print n + 0}')" "$(col 7 | median)" \
      "$note" "$died" >>"$results"
  done <"$order"
}

# ---- servers ----
fb_ready=""
start_fleetboot() { # extra flags...; sets fb_pid and fb_ready
  local data=$work/fb
  rm -rf "$data"
  mkdir -p "$data/isos"
  link_files "$data/files"
  # Every load generator is one address: the per-address caps would measure themselves.
  cpu_group fleetboot
  "${spin[@]}" "${grp[@]}" "$fb" serve --data-dir "$data" --cores "$cores" --dhcp-mode off \
    --tftp-listen 127.0.0.1:$port --http-listen 127.0.0.1:$((port + 1)) \
    --admin-listen 127.0.0.1:$((port + 2)) \
    --tftp-max-per-ip 1000000 --http-max-per-ip 1000000 --zero-copy "$ZERO_COPY" "$@" \
    >"$work/fb.out" 2>"$work/fb.err" &
  fb_pid=$!
  pids+=("$fb_pid")
  for _ in $(seq 300); do
    fb_ready=$(grep -m1 '^fleetboot ready' "$work/fb.out" || true)
    [[ -n $fb_ready ]] && return 0
    kill -0 "$fb_pid" 2>/dev/null || break
    sleep 0.1
  done
  log "fleetboot did not start:"; cat "$work/fb.err" >&2
  return 1
}

start_atftpd() {
  rm -rf "$work/atftpd"
  link_files "$work/atftpd"
  cpu_group atftpd
  "${spin[@]}" "${grp[@]}" atftpd --daemon --no-fork --port $((port + 3)) --bind-address 127.0.0.1 \
    --maxthread 20000 --logfile /dev/null "$work/atftpd" 2>>"$work/server.err" &
  atftpd_pid=$!
  pids+=("$atftpd_pid")
  wait_port udp 127.0.0.1:$((port + 3))
}

# tftpd-hpa: one process per transfer, forked by the listener (affinity is inherited).
start_tftpd_hpa() {
  rm -rf "$work/hpa"
  link_files "$work/hpa"
  cpu_group tftpd-hpa
  "${spin[@]}" "${grp[@]}" "$hpa" --ipv4 --foreground --listen --address 127.0.0.1:$((port + 6)) --secure \
    "$work/hpa" 2>>"$work/server.err" &
  hpa_pid=$!
  pids+=("$hpa_pid")
  wait_port udp 127.0.0.1:$((port + 6))
}

# dnsmasq's TFTP port is fixed at 69.
start_dnsmasq_tftp() {
  rm -rf "$work/dnsmasq"
  link_files "$work/dnsmasq"
  cpu_group dnsmasq
  "${spin[@]}" "${grp[@]}" dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 \
    --pid-file= --log-facility=/dev/null --enable-tftp --tftp-root="$work/dnsmasq" \
    --tftp-max=20000 --listen-address=127.0.0.1 --bind-interfaces 2>>"$work/server.err" &
  dnsmasq_pid=$!
  pids+=("$dnsmasq_pid")
  wait_port udp 127.0.0.1:69
}

start_nginx() { # ROOT LISTEN [NETNS]
  local n=$work/nginx ns=()
  [[ -n ${3:-} ]] && ns=(ip netns exec "$3")
  nginx_conf "$n" "$cores" "$2" "$1"
  cpu_group nginx
  "${ns[@]}" "${spin[@]}" "${grp[@]}" nginx -p "$n" -e "$n/error.log" -c "$n/nginx.conf" &
  nginx_pid=$!
  pids+=("$nginx_pid")
  wait_port tcp "$2" "${3:-}"
}

# ---- TFTP ----
tftp_rows() { # SERVER PID TARGET PREFIX
  local server=$1 pid=$2 target=$3 prefix=$4
  measure "TFTP 32 MiB x64 clients, blksize 1468 ws16" "$server" "$pid" mib_s MiB/s \
    "${cpin[@]}" "$bin/tftp-storm" "$target" --local "$files/big.bin" --file "${prefix}big.bin" \
    --clients 64 --blksize 1468 --windowsize 16
  # One client reads the file 8 times in turn: one read of 32 MiB lasts ~50 ms at full speed,
  # a handful of the clock ticks CPU is counted in, and any hiccup of the machine swings it.
  measure "TFTP 32 MiB x1 client x8 in turn, blksize 1468 ws16" "$server" "$pid" mib_s MiB/s \
    "${cpin[@]}" "$bin/tftp-storm" "$target" --local "$files/big.bin" --file "${prefix}big.bin" \
    --clients 1 --rounds 8 --blksize 1468 --windowsize 16
  # What PXE ROMs negotiate: a block size, no window.
  measure "TFTP 32 MiB x1 client x8 in turn, blksize 1468, no windowsize" "$server" "$pid" mib_s MiB/s \
    "${cpin[@]}" "$bin/tftp-storm" "$target" --local "$files/big.bin" --file "${prefix}big.bin" \
    --clients 1 --rounds 8 --blksize 1468
  measure "TFTP 64 KiB x$SMALL_CLIENTS at once, blksize 1468 ws16" "$server" "$pid" transfers_s transfers/s \
    "${cpin[@]}" "$bin/tftp-storm" "$target" --local "$files/small.bin" --file "${prefix}small.bin" \
    --clients "$SMALL_CLIENTS" --blksize 1468 --windowsize 16
}

# Whether a server still runs; one that died in an earlier run is started again for its turn.
alive() { kill -0 "$1" 2>/dev/null; }

# All four servers run side by side (each on its own port, idle while another is measured), so
# every run measures a server that is already warm, like one that has served for a while.
tftp_section() {
  local run
  start_fleetboot
  start_atftpd
  start_tftpd_hpa
  start_dnsmasq_tftp
  for run in $(seq "$RUNS"); do
    log "TFTP [$label] run $run/$RUNS"
    alive "$fb_pid" || start_fleetboot
    tftp_rows fleetboot "$fb_pid" 127.0.0.1:$port files/
    if ((run == 1)); then
      # What fleetboot still holds once its own transfers are over (its retries end within
      # 6 s), before any peer's load runs on the machine.
      sleep 10
      note_row "fleetboot descriptors 10 s after its TFTP rows" fleetboot \
        "$(find "/proc/$fb_pid/fd" -mindepth 1 | wc -l) open" 0 \
        "$(grep -c '^' <(ss -Huan state established) || true) connected UDP sockets in the namespace"
    fi
    alive "$atftpd_pid" || start_atftpd
    tftp_rows atftpd "$atftpd_pid" 127.0.0.1:$((port + 3)) ""
    alive "$hpa_pid" || start_tftpd_hpa
    tftp_rows tftpd-hpa "$hpa_pid" 127.0.0.1:$((port + 6)) ""
    alive "$dnsmasq_pid" || start_dnsmasq_tftp
    tftp_rows dnsmasq "$dnsmasq_pid" 127.0.0.1:69 ""
  done
  stop "$fb_pid" "$atftpd_pid" "$hpa_pid" "$dnsmasq_pid"
}

# ---- HTTP ----
wrk_lua=$work/range.lua
wrk_range_lua "$wrk_lua" 256
wrk_run() { # URL: wrk's report on stderr, its summary line on stdout
  local out=$work/wrk.out
  "${cpin[@]}" wrk -t"$(((cores > 1) + 1))" -c64 -d"${HTTP_SECS}s" -s "$wrk_lua" "$1" >"$out" 2>&1 || true
  cat "$out" >&2
  wrk_summary "$out"
}
http_rows() { # SERVER PID ADDR PATH-PREFIX
  measure "HTTP 1 MiB random ranges of 256 MiB, 64 conns, ${HTTP_SECS}s, verifying client" "$1" "$2" mib_s MiB/s \
    "${cpin[@]}" "$bin/http-range" "$3" --path "$4range.bin" --local "$files/range.bin" \
    load --connections 64 --range-size $((1 << 20)) --duration "$HTTP_SECS"
  cat "$files/range.bin" >/dev/null # warm again: the page cache is all either server reads
  measure "HTTP 1 MiB random ranges of 256 MiB, 64 conns, ${HTTP_SECS}s, wrk" "$1" "$2" mib_s MiB/s \
    wrk_run "http://$3$4range.bin"
  [[ $mode == both-cores && $run == 1 ]] || return 0
  # The server's memory while it holds the connections, against just before: the rows above
  # leave it with mapped file pages and allocator caches that are not the connections' cost.
  local out client anon rss anon0 rss0 peak_anon=0 peak_rss=0
  read -r rss0 anon0 < <(rss_kib "$2")
  "$bin/http-range" "$3" --path "$4range.bin" --local "$files/range.bin" \
    idle --connections "$IDLE_CONNS" --hold "$IDLE_HOLD" >"$work/idle.out" 2>>"$work/client.err" &
  client=$!
  while kill -0 "$client" 2>/dev/null; do
    read -r rss anon < <(rss_kib "$2")
    ((rss > peak_rss)) && peak_rss=$rss
    ((anon > peak_anon)) && peak_anon=$anon
    sleep 0.5
  done
  wait "$client" || true
  out=$(cat "$work/idle.out")
  echo "$out" >"$runs_dir/idle-$1.txt"
  echo "server RSS before ${rss0} KiB (anon ${anon0}), peak while held ${peak_rss} KiB (anon ${peak_anon})" \
    >>"$runs_dir/idle-$1.txt"
  note_row "HTTP $IDLE_CONNS idle keep-alive conns held ${IDLE_HOLD}s" "$1" \
    "$(field alive_after_hold "$out") alive" \
    "$(($(num open_failed "$out") + $(num dead_after_hold "$out")))" \
    "server anon memory +$(((peak_anon - anon0) / 1024)) MiB while held ($(((peak_anon - anon0) * 1024 / IDLE_CONNS)) B/conn; RSS $((rss0 / 1024)) → $((peak_rss / 1024)) MiB)"
}
rss_kib() { # "RSS anon" of a process and its children (nginx's workers), KiB
  local rss=0 anon=0 p
  for p in "$1" $(ps -o pid= --ppid "$1" 2>/dev/null); do
    rss=$((rss + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
    anon=$((anon + $(awk '/^RssAnon/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo "$rss $anon"
}
rss_of() { # RSS (and its anonymous part) of a process and its children, MiB
  local rss anon
  read -r rss anon < <(rss_kib "$1")
  echo "$((rss / 1024)) MiB (anon $((anon / 1024)) MiB)"
}

http_section() {
  local run
  # nginx's keep-alive time (keepalive_timeout 300s): the idle row measures holding 10,000
  # connections, not fleetboot's default idle timeout (10 s, sized for boot clients).
  start_fleetboot --http-idle-timeout-ms 300000
  rm -rf "$work/nginx"
  link_files "$work/nginx/www"
  start_nginx "$work/nginx/www" 127.0.0.1:$((port + 4))
  for run in $(seq "$RUNS"); do
    log "HTTP [$label] run $run/$RUNS"
    alive "$fb_pid" || start_fleetboot --http-idle-timeout-ms 300000
    http_rows fleetboot "$fb_pid" 127.0.0.1:$((port + 1)) /files/
    alive "$nginx_pid" || start_nginx "$work/nginx/www" 127.0.0.1:$((port + 4))
    http_rows nginx "$nginx_pid" 127.0.0.1:$((port + 4)) /
  done
  stop "$fb_pid" "$nginx_pid"
  [[ $mode == both-cores ]] || return 0
  log "HTTP: fleetboot RSS serving a 4 GiB file"
  # On a fresh process: the row is about what serving the file costs, not what the 10,000
  # idle connections before it left behind (their RSS is in the idle row).
  start_fleetboot
  local bad status
  curl -sf "http://127.0.0.1:$((port + 1))/files/huge.iso" | cmp - "$files/huge.iso" && bad=0 || bad=1
  status=$(awk '/^(VmRSS|VmHWM|RssAnon|RssFile):/ {printf "%s %d MiB, ", $1, $2 / 1024}' "/proc/$fb_pid/status")
  note_row "RSS after serving a 4 GiB file over HTTP" fleetboot "$(rss_of "$fb_pid")" "$bad" "${status%, }"
  stop "$fb_pid"
  log "HTTP: iperf3 -P 8 loopback limit"
  iperf3 -s -1 -B 127.0.0.1 -p $((port + 5)) >/dev/null &
  local iperf_pid=$! mbit
  pids+=("$iperf_pid")
  wait_port tcp 127.0.0.1:$((port + 5))
  mbit=$(iperf3 -c 127.0.0.1 -p $((port + 5)) -P 8 -t "$HTTP_SECS" -f m | awk '/SUM.*receiver/ {print $6}')
  note_row "HTTP loopback limit (iperf3 -P 8, ${HTTP_SECS}s)" iperf3 \
    "$(awk -v m="$mbit" 'BEGIN {printf "%.2f", m * 1e6 / 8 / 2^20}') MiB/s" 0 ""
  stop "$iperf_pid"
}

# ---- proxyDHCP and the boot storm: servers in a namespace behind a veth, dhcp-storm and
# boot-storm as the relay outside, dhcp-storm also as the clients themselves (broadcasts from
# port 68 on the link: one answer each, from the server's link address, or the row fails) ----
dhcp_ns=${PEERS_NETNS}dhcp
net=10.213.0
dhcp_lab() {
  [[ -n ${dhcp_lab_up:-} ]] && return 0
  make_netns "$dhcp_ns"
  ip link add relay type veth peer name server netns "$dhcp_ns"
  ip addr add "$net.1/24" dev relay
  ip link set relay up
  ip -n "$dhcp_ns" addr add "$net.2/24" dev server
  ip -n "$dhcp_ns" link set server up
  # fleetboot's: the casper-shaped test ISO (Debian's kernel) its boot scripts name.
  mkdir -p "$work/fbd/isos"
  ln "$iso_dir/casper.iso" "$work/fbd/isos/"
  # The chain's: the same ISO's kernel and initrd extracted for nginx, iPXE for dnsmasq's TFTP
  # (dnsmasq names a PXE service's file BASENAME.0), and one static boot script.
  local www=$work/chain/www tftp=$work/chain/tftp
  mkdir -p "$www" "$tftp"
  xorriso -osirrox on -indev "$iso_dir/casper.iso" -extract /casper/vmlinuz "$www/vmlinuz" \
    -extract /casper/initrd "$www/initrd" >/dev/null 2>&1
  cp "$ipxe_dir/undionly.kpxe" "$tftp/undionly.0"
  printf '#!ipxe\nkernel http://%s/vmlinuz boot=casper ip=dhcp\ninitrd http://%s/initrd\nboot\n' \
    "$net.2" "$net.2" >"$www/boot.ipxe"
  chmod -R a+rX "$work/chain"
  dhcp_lab_up=1
}
start_fleetboot_dhcp() {
  # Its machines are simulated behind one relay address, as on a routed network: the server
  # cannot confirm their MACs, hence --boot-mac-check off. Default network settings: the
  # namespace has no default route, answers follow arrival.
  cpu_group fleetboot
  ip netns exec "$dhcp_ns" "${spin[@]}" "${grp[@]}" "$fb" serve --data-dir "$work/fbd" \
    --cores "$cores" --dhcp-mode proxy --boot-mac-check off --admin-listen 127.0.0.1:8081 \
    --tftp-max-per-ip 1000000 --http-max-per-ip 1000000 --zero-copy "$ZERO_COPY" >"$work/fb-dhcp.out" 2>"$work/fb-dhcp.err" &
  fbd_pid=$!
  pids+=("$fbd_pid")
  wait_port udp 0.0.0.0:67 "$dhcp_ns" || cat "$work/fb-dhcp.err" >&2
}
# dnsmasq as users run it for iPXE: proxyDHCP + TFTP, the PXE ROM gets iPXE, iPXE (user class
# "iPXE") gets the script's URL.
start_dnsmasq_chain() {
  cpu_group dnsmasq
  ip netns exec "$dhcp_ns" "${spin[@]}" "${grp[@]}" dnsmasq --keep-in-foreground --conf-file=/dev/null \
    --port=0 --pid-file= --log-facility=/dev/null --quiet-dhcp --quiet-tftp \
    --dhcp-range="$net.0,proxy" --dhcp-userclass=set:ipxe,iPXE \
    --pxe-service=x86PC,"iPXE",undionly \
    --dhcp-boot=tag:!ipxe,undionly.0,,$net.2 --dhcp-boot=tag:ipxe,http://$net.2/boot.ipxe \
    --enable-tftp --tftp-root="$work/chain/tftp" --tftp-max=20000 2>>"$work/server.err" &
  dnsd_pid=$!
  pids+=("$dnsd_pid")
  wait_port udp 0.0.0.0:67 "$dhcp_ns"
}
dhcp_rows() { # SERVER PID
  local rate
  for rate in $DHCP_RATES; do
    measure "proxyDHCP $DHCP_COUNT relayed PXE DISCOVERs offered at $rate/s" "$1" "$2" answered_s answers/s \
      "${cpin[@]}" "$bin/dhcp-storm" "$net.2:67" --relay "$net.1" --count "$DHCP_COUNT" --rate "$rate"
    measure "proxyDHCP $DHCP_COUNT broadcast PXE DISCOVERs offered at $rate/s" "$1" "$2" answered_s answers/s \
      "${cpin[@]}" "$bin/dhcp-storm" 255.255.255.255:67 --interface relay --expect-server "$net.2" \
      --count "$DHCP_COUNT" --rate "$rate"
  done
}
boot_row() { # SERVER "PID..." --verify...
  local server=$1 server_pids=$2
  shift 2
  measure "boot storm: $BOOT_MACHINES BIOS machines at once, DHCP → TFTP iPXE → script → kernel+initrd" \
    "$server" "$server_pids" machines_s machines/s \
    "${cpin[@]}" "$bin/boot-storm" "$net.2:67" --relay "$net.1" --machines "$BOOT_MACHINES" \
    --verify "vmlinuz=$work/chain/www/vmlinuz" --verify "initrd=$work/chain/www/initrd" "$@"
}
# fleetboot and dnsmasq both take port 67: they take turns, each started afresh for its run.
dhcp_section() {
  local run image mac
  dhcp_lab
  for run in $(seq "$RUNS"); do
    log "DHCP [$label] run $run/$RUNS: fleetboot"
    start_fleetboot_dhcp
    if want dhcp; then dhcp_rows fleetboot "$fbd_pid"; fi
    if want boot; then
      if [[ -z ${assigned:-} ]]; then
        image=$("$fb" images list --json --data-dir "$work/fbd" | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -1)
        for mac in $("$bin/boot-storm" "$net.2:67" --relay "$net.1" --machines "$BOOT_MACHINES" --list-macs); do
          "$fb" clients assign "$mac" "$image" --data-dir "$work/fbd" >/dev/null
        done
        assigned=1
      fi
      boot_row fleetboot "$fbd_pid" --verify "undionly.kpxe=$ipxe_dir/undionly.kpxe"
    fi
    stop "$fbd_pid"
    log "DHCP [$label] run $run/$RUNS: dnsmasq (+ nginx for the boot storm)"
    start_dnsmasq_chain
    if want dhcp; then dhcp_rows dnsmasq "$dnsd_pid"; fi
    if want boot; then
      start_nginx "$work/chain/www" "$net.2:80" "$dhcp_ns"
      boot_row "dnsmasq + nginx" "$dnsd_pid $nginx_pid" --verify "undionly.0=$ipxe_dir/undionly.kpxe"
      stop "$nginx_pid"
    fi
    stop "$dnsd_pid"
  done
}

for mode in "${modes[@]}"; do
  set_mode "$mode"
  if want tftp; then tftp_section; fi
  if want http; then http_section; fi
  if want dhcp || want boot; then dhcp_section; fi
done

# ---- the table: each peer against fleetboot's row of the same pass ----
summarize
echo "RUNS=$RUNS run(s) per row; fleetboot $(git -C "$repo" rev-parse --short HEAD 2>/dev/null); Linux $(uname -r), $(nproc) CPUs."
echo "Results min / median / max; CPU per GiB verified by the client, medians: the server's own"
echo "(utime+stime) and the whole machine's (/proc/stat busy, softirq included); ratios from medians."
echo
echo "| test | server | result (min / median / max) | server CPU s/GiB | machine CPU s/GiB | softirq s | failures | p99 ms | fleetboot ÷ server (result) | server ÷ fleetboot (server CPU/GiB) | server ÷ fleetboot (machine CPU/GiB) | notes |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
awk -F'|' '
  $2 == "fleetboot" && $12 == "" { fb[$1] = $3 + 0; fbcpu[$1] = $6 + 0; fbsys[$1] = $7 + 0 }
  { rows[NR] = $0 }
  END {
    for (i = 1; i <= NR; i++) {
      split(rows[i], f, "|")
      peer = f[2] != "fleetboot" && f[12] == ""
      r = (peer && (f[1] in fb) && f[3] + 0 > 0) ? sprintf("%.2f×", fb[f[1]] / f[3]) : ""
      c = (peer && fbcpu[f[1]] > 0 && f[6] != "") ? sprintf("%.2f×", f[6] / fbcpu[f[1]]) : ""
      m = (peer && fbsys[f[1]] > 0 && f[7] != "") ? sprintf("%.2f×", f[7] / fbsys[f[1]]) : ""
      v = f[4] == f[3] ? f[3] : f[4] " " f[5]
      printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", f[1], f[2], v, f[6], f[7], f[8], f[9], f[10], r, c, m, f[11]
    }
  }' "$results"
fb_http=$(awk -F'|' '$1 ~ /HTTP 1 MiB.*verifying/ && $1 ~ /cores\]/ && $2 == "fleetboot" {print $3 + 0}' "$results")
limit=$(awk -F'|' '$2 == "iperf3" {print $3 + 0}' "$results")
if [[ -n $limit && -n $fb_http ]]; then
  echo
  echo "fleetboot HTTP (verifying client, all cores) = $(awk -v a="$fb_http" -v b="$limit" 'BEGIN {printf "%.0f", b ? 100 * a / b : 0}')% of the loopback limit."
fi
cp "$results" "$runs_dir/rows.psv"
if [[ -s $work/client.err ]]; then
  echo
  echo "client errors (first 20):"
  head -20 "$work/client.err" | sed 's/^/    /'
fi
echo
echo "raw runs: ${runs_dir#"$repo"/}"
