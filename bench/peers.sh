#!/usr/bin/env bash
# Side-by-side load test of fleetboot and its peers on one machine, in one run, over loopback
# (and a veth pair for proxyDHCP), every server serving the same files (hard links):
#   TFTP   fleetboot vs atftpd vs dnsmasq    (tftp-storm)
#   HTTP   fleetboot vs nginx (sendfile)     (http-range), beside iperf3's loopback limit
#   DHCP   fleetboot vs dnsmasq proxyDHCP    (dhcp-storm), when fleetboot has --dhcp-mode
# Each row is the median of RUNS runs; server CPU is utime+stime of all its threads and
# processes from /proc/PID/stat, per GiB verified by the client. Prints a markdown table.
#
#   bench/peers.sh            RUNS=5 (override with RUNS=N)
#   bench/peers.sh --quick    RUNS=1, shorter HTTP and idle phases
#   SECTIONS="dhcp" bench/peers.sh    only some of: tftp http dhcp (default all three)
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
SECTIONS=${SECTIONS:-tftp http dhcp}
want() { [[ " $SECTIONS " == *" $1 "* ]]; }

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
bin=$repo/target/release

# The whole run happens in a namespace of its own: its loopback carries no one else's traffic,
# port 69 is free for dnsmasq, and its ephemeral port range can be widened for 10,000 transfers
# at once (client and server each take a port per transfer) without touching the host's.
if [[ -z ${PEERS_NETNS:-} ]]; then
  [[ $(id -u) -eq 0 ]] || { echo "peers.sh: needs root (network namespaces)" >&2; exit 1; }
  tools/install-packages.sh atftpd nginx-light iperf3 dnsmasq-base iproute2 curl procps
  cargo build --release -q -p controlplane -p bench --bins
  tools/build-test-isos.sh target/test-assets/iso-layouts >/dev/null
  ns=fbp$$
  ip netns add "$ns"
  trap 'ip netns del "$ns"' EXIT
  trap 'exit 130' INT TERM
  ip -n "$ns" link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="10000 65000"
  PEERS_NETNS=$ns ip netns exec "$ns" "$repo/bench/peers.sh" "$@"
  exit
fi

work=$(mktemp -d /tmp/fleetboot-peers.XXXXXX)
chmod 755 "$work" # atftpd, dnsmasq and nginx workers read as nobody
pids=()
netns=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for n in "${netns[@]}"; do ip netns del "$n" 2>/dev/null || true; done
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
median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print v[(NR+1)/2]; else printf "%.2f\n", (v[NR/2]+v[NR/2+1])/2}'; }
# shellcheck source=bench/lib/cpu.sh
source "$repo/bench/lib/cpu.sh"
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
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
make_netns() { # NAME: a namespace with loopback up
  ip netns add "$1"
  netns+=("$1")
  ip -n "$1" link set lo up
}

# ---- measurement: RUNS runs of a client command against server PID ----
# Appends "row|server|result|cpu_per_gib|failures|p99|note" to $work/rows.
results=$work/rows
: >"$results"
measure() { # ROW SERVER PID METRIC UNIT CMD... (CMD prints a key=value summary line)
  local row=$1 server=$2 pid=$3 metric=$4 unit=$5
  shift 5
  local vals=() cpus=() secs=() p99s=() fails=0 out ticks bytes note=""
  for r in $(seq "$RUNS"); do
    ticks=$(cpu_ticks "$pid")
    out=$("$@" 2>>"$work/client.err" || true)
    ticks=$(($(cpu_ticks "$pid") - ticks))
    echo "$row | $server | run $r | $out" >>"$work/raw.log"
    if [[ -z $out ]]; then
      log "$row/$server run $r: no summary"
      fails=$((fails + 1))
      continue
    fi
    vals+=("$(field "$metric" "$out")")
    bytes=$(num bytes "$out")
    secs+=("$(awk -v t="$ticks" -v h="$CLK_TCK" 'BEGIN {printf "%.2f", t / h}')")
    if [[ $bytes -gt 0 ]]; then
      cpus+=("$(awk -v t="$ticks" -v h="$CLK_TCK" -v b="$bytes" 'BEGIN {printf "%.3f", t / h / (b / 2^30)}')")
    fi
    p99s+=("$(field p99_ms "$out")")
    fails=$((fails + $(num failed "$out") + $(num lost "$out") + $(num wrong "$out")))
    if [[ -n $(field windowsize "$out") ]]; then
      note="granted blksize $(field blksize "$out"), windowsize $(field windowsize "$out")"
    fi
  done
  if [[ ${#cpus[@]} -eq 0 ]]; then
    note="server CPU $(printf '%s\n' "${secs[@]}" | median) s per run"
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    note="the server died during the row ($(tail -1 "$work/server.err" 2>/dev/null))"
  fi
  printf '%s|%s|%s %s|%s|%s|%s|%s\n' "$row" "$server" \
    "$( ((${#vals[@]})) && printf '%s\n' "${vals[@]}" | median)" "$unit" \
    "$( ((${#cpus[@]})) && printf '%s\n' "${cpus[@]}" | median)" "$fails" \
    "$( ((${#p99s[@]})) && printf '%s\n' "${p99s[@]}" | grep . | median)" "$note" >>"$results"
  log "$(tail -1 "$results")"
}
note_row() { printf '%s\n' "$*" >>"$results"; log "$*"; } # a row measured by hand

# ---- servers ----
fb_ready=""
start_fleetboot() { # extra flags...; sets fb_pid and fb_ready
  local data=$work/fb
  rm -rf "$data"
  mkdir -p "$data/isos"
  link_files "$data/files"
  # Every load generator is one address: the per-address caps would measure themselves.
  "$bin/fleetboot" serve --data-dir "$data" --tftp-listen 127.0.0.1:$port \
    --http-listen 127.0.0.1:$((port + 1)) --admin-listen 127.0.0.1:$((port + 2)) \
    --tftp-max-per-ip 1000000 --http-max-per-ip 1000000 "$@" \
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
fb_has_dhcp() { "$bin/fleetboot" serve --help | grep -q -- --dhcp-mode; }
fb_off_dhcp=()
fb_has_dhcp && fb_off_dhcp=(--dhcp-mode off)

start_atftpd() {
  link_files "$work/atftpd"
  atftpd --daemon --no-fork --port $((port + 3)) --bind-address 127.0.0.1 --maxthread 20000 \
    --logfile /dev/null "$work/atftpd" 2>>"$work/server.err" &
  atftpd_pid=$!
  pids+=("$atftpd_pid")
  wait_port udp 127.0.0.1:$((port + 3))
}

# dnsmasq's TFTP port is fixed at 69.
start_dnsmasq_tftp() {
  link_files "$work/dnsmasq"
  dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 \
    --pid-file= --log-facility=/dev/null --enable-tftp --tftp-root="$work/dnsmasq" \
    --tftp-max=20000 --listen-address=127.0.0.1 --bind-interfaces 2>>"$work/server.err" &
  dnsmasq_pid=$!
  pids+=("$dnsmasq_pid")
  wait_port udp 127.0.0.1:69
}

start_nginx() {
  local n=$work/nginx
  link_files "$n/www"
  mkdir -p "$n/tmp"
  cat >"$n/nginx.conf" <<EOF
daemon off;
worker_processes $(nproc);
worker_rlimit_nofile 40000;
pid $n/nginx.pid;
error_log $n/error.log;
events { worker_connections 30000; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 300s;
  keepalive_requests 100000000;
  default_type application/octet-stream;
  client_body_temp_path $n/tmp; proxy_temp_path $n/tmp; fastcgi_temp_path $n/tmp;
  uwsgi_temp_path $n/tmp; scgi_temp_path $n/tmp;
  server { listen 127.0.0.1:$((port + 4)) backlog=16384; root $n/www; }
}
EOF
  nginx -p "$n" -e "$n/error.log" -c "$n/nginx.conf" &
  nginx_pid=$!
  pids+=("$nginx_pid")
  wait_port tcp 127.0.0.1:$((port + 4))
}

# ---- TFTP ----
tftp_rows() { # SERVER PID TARGET PREFIX
  local server=$1 pid=$2 target=$3 prefix=$4
  measure "TFTP 32 MiB x64 clients, blksize 1468 ws16" "$server" "$pid" mib_s MiB/s \
    "$bin/tftp-storm" "$target" --local "$files/big.bin" --file "${prefix}big.bin" \
    --clients 64 --blksize 1468 --windowsize 16
  measure "TFTP 32 MiB x1 client, blksize 1468 ws16" "$server" "$pid" mib_s MiB/s \
    "$bin/tftp-storm" "$target" --local "$files/big.bin" --file "${prefix}big.bin" \
    --clients 1 --blksize 1468 --windowsize 16
  measure "TFTP 64 KiB x$SMALL_CLIENTS at once, blksize 1468 ws16" "$server" "$pid" transfers_s transfers/s \
    "$bin/tftp-storm" "$target" --local "$files/small.bin" --file "${prefix}small.bin" \
    --clients "$SMALL_CLIENTS" --blksize 1468 --windowsize 16
}

if want tftp; then
log "TFTP: fleetboot"
start_fleetboot "${fb_off_dhcp[@]}"
tftp_rows fleetboot "$fb_pid" 127.0.0.1:$port files/
log "TFTP: atftpd"
start_atftpd
tftp_rows atftpd "$atftpd_pid" 127.0.0.1:$((port + 3)) ""
stop "$atftpd_pid"
log "TFTP: dnsmasq"
start_dnsmasq_tftp
tftp_rows dnsmasq "$dnsmasq_pid" 127.0.0.1:69 ""
stop "$dnsmasq_pid"

# What fleetboot still holds once every TFTP transfer is over (its retries end within 6 s);
# then HTTP starts on a fresh process, so a leak here cannot starve the HTTP rows.
sleep 10
note_row "fleetboot descriptors 10 s after the TFTP rows|fleetboot|$(find "/proc/$fb_pid/fd" -mindepth 1 | wc -l) open||||$(grep -c '^' <(ss -Huan state established) || true) connected UDP sockets in the namespace"
stop "$fb_pid"
fi

# ---- HTTP ----
http_rows() { # SERVER PID ADDR PATH-PREFIX
  measure "HTTP 1 MiB random ranges of 256 MiB, 64 conns, ${HTTP_SECS}s" "$1" "$2" mib_s MiB/s \
    "$bin/http-range" "$3" --path "$4range.bin" --local "$files/range.bin" \
    load --connections 64 --range-size $((1 << 20)) --duration "$HTTP_SECS"
  local out
  out=$("$bin/http-range" "$3" --path "$4range.bin" --local "$files/range.bin" \
    idle --connections "$IDLE_CONNS" --hold "$IDLE_HOLD" 2>>"$work/client.err" || true)
  echo "idle | $1 | $out" >>"$work/raw.log"
  note_row "HTTP $IDLE_CONNS idle keep-alive conns held ${IDLE_HOLD}s|$1|$(field alive_after_hold "$out") alive||$(($(field open_failed "$out") + $(field dead_after_hold "$out")))||server RSS $(rss_of "$2")"
}
rss_of() { # RSS (and its anonymous part) of a process and its children, MiB
  local rss=0 anon=0 p
  for p in "$1" $(ps -o pid= --ppid "$1" 2>/dev/null); do
    rss=$((rss + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status")))
    anon=$((anon + $(awk '/^RssAnon/ {print $2}' "/proc/$p/status")))
  done
  echo "$((rss / 1024)) MiB (anon $((anon / 1024)) MiB)"
}

if want http; then
log "HTTP: fleetboot"
start_fleetboot "${fb_off_dhcp[@]}"
http_rows fleetboot "$fb_pid" 127.0.0.1:$((port + 1)) /files/
log "HTTP: fleetboot RSS serving a 4 GiB file"
# On a fresh process: the row is about what serving the file costs, not what the 10,000 idle
# connections before it left behind (their RSS is in the idle row).
stop "$fb_pid"
start_fleetboot "${fb_off_dhcp[@]}"
curl -sf "http://127.0.0.1:$((port + 1))/files/huge.iso" | cmp - "$files/huge.iso" && bad=0 || bad=1
status=$(awk '/^(VmRSS|VmHWM|RssAnon|RssFile):/ {printf "%s %d MiB, ", $1, $2 / 1024}' "/proc/$fb_pid/status")
note_row "RSS after serving a 4 GiB file over HTTP|fleetboot|$(rss_of "$fb_pid")||$bad||${status%, }"
stop "$fb_pid"

log "HTTP: nginx"
start_nginx
http_rows nginx "$nginx_pid" 127.0.0.1:$((port + 4)) /
stop "$nginx_pid"

log "HTTP: iperf3 -P 8 loopback limit"
iperf3 -s -1 -B 127.0.0.1 -p $((port + 5)) >/dev/null &
iperf_pid=$!
pids+=("$iperf_pid")
wait_port tcp 127.0.0.1:$((port + 5))
mbit=$(iperf3 -c 127.0.0.1 -p $((port + 5)) -P 8 -t "$HTTP_SECS" -f m | awk '/SUM.*receiver/ {print $6}')
note_row "HTTP loopback limit (iperf3 -P 8, ${HTTP_SECS}s)|iperf3|$(awk -v m="$mbit" 'BEGIN {printf "%.2f", m * 1e6 / 8 / 2^20}') MiB/s||0||"
stop "$iperf_pid"
fi

# ---- proxyDHCP: server in a namespace behind a veth, dhcp-storm as the relay outside, then as
# the clients themselves (broadcasts from port 68 on the link: one answer each, from the
# server's link address, or the row fails) ----
if want dhcp && fb_has_dhcp; then
  dhcp_ns=${PEERS_NETNS}dhcp
  make_netns "$dhcp_ns"
  ip link add relay type veth peer name server netns "$dhcp_ns"
  net=10.213.0
  ip addr add "$net.1/24" dev relay
  ip link set relay up
  ip -n "$dhcp_ns" addr add "$net.2/24" dev server
  ip -n "$dhcp_ns" link set server up
  dhcp_row() { # SERVER PID
    local rate
    for rate in $DHCP_RATES; do
      measure "proxyDHCP $DHCP_COUNT relayed PXE DISCOVERs offered at $rate/s" "$1" "$2" answered_s answers/s \
        "$bin/dhcp-storm" "$net.2:67" --relay "$net.1" --count "$DHCP_COUNT" --rate "$rate"
      measure "proxyDHCP $DHCP_COUNT broadcast PXE DISCOVERs offered at $rate/s" "$1" "$2" answered_s answers/s \
        "$bin/dhcp-storm" 255.255.255.255:67 --interface relay --expect-server "$net.2" \
        --count "$DHCP_COUNT" --rate "$rate"
    done
  }
  log "DHCP: fleetboot"
  # The boot-storm row after the DHCP rows boots the casper-shaped test ISO (Debian's kernel).
  mkdir -p "$work/fb/isos"
  # Its machines are simulated behind one relay address, as on a routed network: the server
  # cannot confirm their MACs, hence --boot-mac-check off.
  ln "$iso_dir/casper.iso" "$work/fb/isos/"
  # Default network settings: the namespace has no default route, answers follow arrival.
  ip netns exec "$dhcp_ns" "$bin/fleetboot" serve --data-dir "$work/fb" --dhcp-mode proxy \
    --boot-mac-check off --admin-listen 127.0.0.1:8081 \
    --tftp-max-per-ip 1000000 --http-max-per-ip 1000000 >"$work/fb-dhcp.out" 2>"$work/fb-dhcp.err" &
  fbd_pid=$!
  pids+=("$fbd_pid")
  wait_port udp 0.0.0.0:67 "$dhcp_ns" || cat "$work/fb-dhcp.err" >&2
  dhcp_row fleetboot "$fbd_pid"
  log "boot storm: fleetboot"
  image=$("$bin/fleetboot" images list --json --data-dir "$work/fb" | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -1)
  for mac in $("$bin/boot-storm" "$net.2:67" --relay "$net.1" --machines "$BOOT_MACHINES" --list-macs); do
    "$bin/fleetboot" clients assign "$mac" "$image" --data-dir "$work/fb" >/dev/null
  done
  measure "boot storm: $BOOT_MACHINES BIOS machines at once, DHCP → TFTP iPXE → script → 9 MiB kernel+initrd" \
    fleetboot "$fbd_pid" machines_s machines/s \
    "$bin/boot-storm" "$net.2:67" --relay "$net.1" --machines "$BOOT_MACHINES" \
    --verify "undionly.kpxe=$ipxe_dir/undionly.kpxe" --verify "vmlinuz=$repo/target/test-assets/vmlinuz"
  stop "$fbd_pid"
  log "DHCP: dnsmasq"
  ip netns exec "$dhcp_ns" dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 \
    --pid-file= --log-facility=/dev/null --quiet-dhcp --dhcp-range="$net.0,proxy" \
    --pxe-service=x86PC,"x",undionly &
  dnsd_pid=$!
  pids+=("$dnsd_pid")
  wait_port udp 0.0.0.0:67 "$dhcp_ns"
  dhcp_row dnsmasq "$dnsd_pid"
  stop "$dnsd_pid"
else
  log "fleetboot has no --dhcp-mode yet: proxyDHCP row skipped"
fi

# ---- the table: each peer against fleetboot in the same row ----
echo
echo "| test | server | median result | server CPU s/GiB | failures | p99 ms | fleetboot ÷ server (result) | server ÷ fleetboot (CPU/GiB) | notes |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
awk -F'|' '
  $2 == "fleetboot" { fb[$1] = $3 + 0; fbcpu[$1] = $4 + 0 }
  { rows[NR] = $0 }
  END {
    for (i = 1; i <= NR; i++) {
      split(rows[i], f, "|")
      r = (f[2] != "fleetboot" && (f[1] in fb) && f[3] + 0 > 0) ? sprintf("%.2f×", fb[f[1]] / f[3]) : ""
      c = (f[2] != "fleetboot" && (f[1] in fbcpu) && fbcpu[f[1]] > 0 && f[4] != "") ? sprintf("%.2f×", f[4] / fbcpu[f[1]]) : ""
      printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", f[1], f[2], f[3], f[4], f[5], f[6], r, c, f[7]
    }
  }' "$results"
fb_http=$(awk -F'|' '$1 ~ /^HTTP 1 MiB/ && $2 == "fleetboot" {print $3 + 0}' "$results")
limit=$(awk -F'|' '$2 == "iperf3" {print $3 + 0}' "$results")
echo
echo "fleetboot HTTP = $(awk -v a="$fb_http" -v b="$limit" 'BEGIN {printf "%.0f", b ? 100 * a / b : 0}')% of the loopback limit; $RUNS run(s) per row."
echo
echo "client summaries:"
sed 's/^/    /' "$work/raw.log"
if [[ -s $work/client.err ]]; then
  echo "client errors (first 20):"
  head -20 "$work/client.err" | sed 's/^/    /'
fi
