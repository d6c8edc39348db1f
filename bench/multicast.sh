#!/usr/bin/env bash
# One file to N receivers through a 1 Gbit/s sender link, four ways, in one lab, run the same
# way: unicast HTTP (N parallel curl from `fleetboot serve`), udpcast (udp-sender/udp-receiver),
# uftp (uftp/uftpd) and fleetboot's multicast sessions (`fleetboot multicast send` +
# `fleetboot-receive`). Rows: N = 1, 4, 8, 16, and 8 with one receiver losing 2 % of its packets.
#
#   bench/multicast.sh                     512 MiB, 3 runs per row and tool
#   SIZE_MIB=64 RUNS=1 bench/multicast.sh  a quick look
#   ROWS="8 8L" TOOLS="udpcast fleetboot" bench/multicast.sh   some rows / tools only
#                                          (row "NL": N receivers, the first one lossy)
#   BASELINE_RECEIVER=/path/to/old/fleetboot-receive BASELINE_NAME="receive abc1234" \
#     ROWS=8L TOOLS="fleetboot baseline" bench/multicast.sh
#                                          an A/B of two receivers: tool "baseline" is a
#                                          fleetboot session received by that binary
#   NIC_GRO=0 bench/multicast.sh           receivers' veths without NAPI/GRO (see plug)
#
# Time runs from the sender's start to the last receiver done (uftp: to the sender's exit,
# which waits for every receiver's completion); then every copy's SHA-256 is checked against
# the source, and a run with a copy that does not verify counts as failed, with no time.
# CPU: the sending process's utime+stime, and system-wide user/system/softirq from /proc/stat
# over the run (receivers, bridge and sender share this machine's cores).
# Raw output of every run goes to bench/runs/multicast-<date>/ (RUNS_DIR to change); the
# tables are printed at the end and written there as summary.md. Needs root.
set -euo pipefail

SIZE_MIB=${SIZE_MIB:-512}
RUNS=${RUNS:-3}
ROWS=${ROWS:-1 4 8 16 8L}
TOOLS=${TOOLS:-http udpcast uftp fleetboot}
[[ -n ${BASELINE_RECEIVER:-} ]] || TOOLS=${TOOLS//baseline/}
NIC_GRO=${NIC_GRO:-1} # receivers' veths receive through NAPI with GRO, as a NIC (see plug)
RATE_MBIT=1000 # the sender link's tbf rate, and the rate every sender is told to keep
want() { [[ " $TOOLS " == *" $1 "* ]]; }

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
[[ $(id -u) -eq 0 ]] || { echo "multicast.sh: needs root (network namespaces)" >&2; exit 1; }
tools/setup.sh bench >/dev/null
fb=$repo/target/release/fleetboot
if want http || want fleetboot || want baseline; then cargo build --release -q -p controlplane; fi
receive=""
if want fleetboot; then
  if "$fb" multicast send --help >/dev/null 2>&1 && [[ -x tools/build-receiver.sh ]]; then
    receive=$repo/$(tools/build-receiver.sh | tail -1)
  else
    echo "multicast.sh: this build has no multicast sessions or receiver: fleetboot rows skipped" >&2
    TOOLS=${TOOLS//fleetboot/}
  fi
fi

stamp=$(date +%Y%m%d-%H%M%S)
runs_dir=${RUNS_DIR:-$repo/bench/runs/multicast-$stamp}
mkdir -p "$runs_dir"
tag=mcb$$ # namespace and temp names
work=$(mktemp -d "/tmp/fleetboot-multicast.XXXXXX")
max_n=$(tr -d 'L' <<<"$ROWS" | tr ' ' '\n' | sort -n | tail -1)
# Copies land in memory: the disk would otherwise be part of what is measured (and 16 copies
# of 512 MiB would outrun the page cache's dirty limits).
mount -t tmpfs -o size=$(((max_n + 2) * SIZE_MIB + 256))m "fleetboot-multicast" "$work"

rx_pids=() # receivers of the current run
pids=()    # servers of the current lab
daemons=() # receivers' daemons of the current run (uftpd)
netns=()
stop_all() { # PID...
  local p
  for p in "$@"; do kill "$p" 2>/dev/null || true; done
  for p in "$@"; do wait "$p" 2>/dev/null || true; done
}
cleanup() {
  stop_all "${pids[@]}" "${daemons[@]}" "${rx_pids[@]}"
  for n in "${netns[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  umount "$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CLK_TCK=$(getconf CLK_TCK)
log() { echo "multicast.sh $(date +%T): $*" >&2; }
now() { date +%s.%N; }
mark_end() { t_end=$(now); sys1=$(sys_ticks); } # the transfer is over: stop the clocks

# ---- the file ----
mkdir -p "$work/fb/files"
src=$work/fb/files/image.bin # in fleetboot's data dir, so `fleetboot serve` serves it
head -c $((SIZE_MIB << 20)) /dev/urandom >"$src"
src_sha=$(sha256sum "$src" | cut -d' ' -f1)

# ---- the lab: sender netns ─veth─ bridge (own netns) ─veth─ N receiver netns ----
net=10.78.0
sender_ip=$net.1
rx_ns() { echo "${tag}r$1"; }
make_netns() {
  ip netns add "$1"
  netns+=("$1")
  ip -n "$1" link set lo up
}
# A host on the bridge: its end of a veth pair is eth0, holding ADDR (with a broadcast address:
# udpcast finds no receivers without one) and a route for multicast out of it.
# With NIC_GRO=1 (the default) eth0 receives as a NIC does by default: through NAPI, with GRO,
# so a socket that asks for UDP_GRO gets runs of datagrams at once. A veth only takes that path
# with GRO on and a peer that claims no TSO: the switch's port has TSO off (frames leaving a
# switch are wire frames anyway). But a veth's NAPI path costs far more per datagram than a
# NIC's for sockets that do not ask for GRO (udpcast, uftp: see RESULTS.md), all of it on the
# lab's shared cores; NIC_GRO=0 keeps the veths' per-datagram path, where those do better.
plug() { # NETNS PORT-NAME ADDR
  ip -n "$sw" link add "$2" type veth peer name eth0 netns "$1"
  ip netns exec "$sw" ethtool -K "$2" tso off >/dev/null
  if ((NIC_GRO)); then ip netns exec "$1" ethtool -K eth0 gro on >/dev/null; fi
  ip -n "$sw" link set "$2" master br0 up
  ip -n "$1" addr add "$3/24" brd + dev eth0
  ip -n "$1" link set eth0 up
  ip -n "$1" route add 224.0.0.0/4 dev eth0
}
lab_up() { # N LOSSY(0|1)
  sw=${tag}w
  make_netns "$sw"
  # Without snooping the bridge floods every group to every port, as a switch without IGMP
  # snooping does: each receiver sees each datagram once, whoever joined.
  ip -n "$sw" link add br0 type bridge mcast_snooping 0
  ip -n "$sw" link set br0 up
  # A switch forwards frames without looking at them. Where br_netfilter is loaded (the host's
  # firewall or container runtime does), a bridge would pass every frame it floods through
  # the netfilter hooks, once per port: off in the switch's namespace (-e: no such keys where
  # the module is absent).
  ip netns exec "$sw" sysctl -qe -w net.bridge.bridge-nf-call-iptables=0 \
    net.bridge.bridge-nf-call-ip6tables=0 net.bridge.bridge-nf-call-arptables=0
  sender_ns=${tag}s
  make_netns "$sender_ns"
  plug "$sender_ns" s "$sender_ip"
  # The sender's "NIC": tbf caps it at 1 Gbit/s. The stack hands the qdisc GSO/TSO batches of
  # up to 64 KiB; a burst of 256 KiB lets four such batches through back to back (2 ms at
  # 1 Gbit/s), so tbf never has to split one, and the limit (latency 20 ms, ~2.6 MB) makes a
  # sender outrunning the link wait on its socket buffer rather than lose datagrams here.
  # Segmentation happens after the qdisc (UDP and TCP segmentation offload off on the veth),
  # as a NIC's would: the bridge and the receivers see datagrams of at most the MTU, never a
  # 64 KiB batch, which no wire carries.
  ip netns exec "$sender_ns" ethtool -K eth0 tso off tx-udp-segmentation off >/dev/null
  ip netns exec "$sender_ns" tc qdisc replace dev eth0 root tbf rate "${RATE_MBIT}mbit" \
    burst 256kb latency 20ms
  local i
  for i in $(seq "$1"); do
    make_netns "$(rx_ns "$i")"
    plug "$(rx_ns "$i")" "r$i" "$net.$((10 + i))"
  done
  # The lossy receiver's link drops 2 % of the TCP and UDP frames the switch sends it, whatever
  # they carry: in the switch, per frame, before the receiver's GRO could merge them (a drop in
  # the receiver would lose whole merged runs). (This kernel has no netem; nft wants the table
  # on separate lines.)
  if [[ $2 -eq 1 ]]; then
    ip netns exec "$sw" nft -f - <<'EOF'
table bridge lossy {
  chain forward {
    type filter hook forward priority 0; policy accept;
    oifname "r1" meta l4proto { tcp, udp } numgen random mod 100 < 2 counter drop
  }
}
EOF
  fi
  if want http || want fleetboot || want baseline; then start_fleetboot; fi
}
dropped() { ip netns exec "$sw" nft list table bridge lossy | sed -n 's/.*counter packets \([0-9]*\).*/\1/p'; }
lab_down() {
  local n
  stop_all "${pids[@]}"
  pids=()
  for n in "${netns[@]}"; do ip netns del "$n"; done
  netns=()
}

# ---- processes ----
# shellcheck source=bench/lib/cpu.sh
source "$repo/bench/lib/cpu.sh"
wait_listen() { # NETNS PROTO PORT
  for _ in $(seq 100); do
    ip netns exec "$1" ss -Hln"${2:0:1}" "sport = :$3" | grep -q . && return 0
    sleep 0.1
  done
  log "nothing listens on $2 port $3 in $1"
  return 1
}
start_fleetboot() {
  ip netns exec "$sender_ns" "$fb" serve --data-dir "$work/fb" >"$work/fb.out" 2>"$work/fb.err" &
  fb_pid=$!
  pids+=("$fb_pid")
  for _ in $(seq 300); do
    grep -q '^fleetboot ready' "$work/fb.out" && return 0
    kill -0 "$fb_pid" 2>/dev/null || break
    sleep 0.1
  done
  log "fleetboot did not start:"
  cat "$work/fb.err" >&2
  return 1
}
http_port() { sed -n 's/^fleetboot ready.* http=[^ ]*:\([0-9]*\) .*/\1/p' "$work/fb.out" | head -1; }

# ---- one run of one tool: receivers 1..N write $copies/rI/image.bin ----
# r<I>.time: user and system CPU seconds, voluntary context switches (waits for data) and
# involuntary ones (preempted), from GNU time.
# Each sets: t0 (sender start), sender_cpu (s), status (receivers' and sender's exit codes).
start_rx() { # I LOG CMD...: a receiver in its netns, bounded by the run's time limit
  local i=$1 logf=$2
  shift 2
  ip netns exec "$(rx_ns "$i")" timeout -k 5 "$limit" /usr/bin/time -o "$run/r$i.time" -f '%U %S %w %c' \
    "$@" >"$logf" 2>&1 &
  rx_pids+=($!)
}
wait_rx() { # sets status to the receivers' exit codes
  local p
  for p in "${rx_pids[@]}"; do
    wait "$p" && status+=" 0" || status+=" $?"
  done
  rx_pids=()
}
timed_sender() { # LOG CMD...: the sender, its CPU written to $run/sender.time
  local logf=$1
  shift
  ip netns exec "$sender_ns" timeout -k 5 "$limit" /usr/bin/time -o "$run/sender.time" -f '%U %S' "$@" \
    >"$logf" 2>&1
}

run_http() {
  local i port
  port=$(http_port)
  local ticks
  ticks=$(cpu_ticks "$fb_pid")
  t0=$(now)
  for i in $(seq "$n"); do
    start_rx "$i" "$run/r$i.log" curl -sS --fail -o "$copies/r$i/image.bin" \
      "http://$sender_ip:$port/files/image.bin"
  done
  wait_rx
  mark_end
  sender_cpu=$(awk -v t=$(($(cpu_ticks "$fb_pid") - ticks)) -v h="$CLK_TCK" 'BEGIN {printf "%.2f", t / h}')
}

run_udpcast() {
  local i sp
  for i in $(seq "$n"); do
    start_rx "$i" "$run/r$i.log" udp-receiver --nokbd --interface eth0 --file "$copies/r$i/image.bin"
  done
  t0=$(now)
  # --nopointopoint: with one receiver udp-sender would otherwise switch to unicast;
  # --full-duplex: a switched network (the bridge) is full duplex, as the manual advises.
  timed_sender "$run/sender.log" udp-sender --nokbd --interface eth0 --file "$src" \
    --min-receivers "$n" --max-bitrate "${RATE_MBIT}m" --full-duplex --nopointopoint &
  sp=$!
  wait_rx
  mark_end
  wait "$sp" && status+=" 0" || status+=" $?"
  sender_cpu=$(awk '{printf "%.2f", $1 + $2}' "$run/sender.time" 2>/dev/null || echo "")
}

run_uftp() {
  local i ids=() d
  for i in $(seq "$n"); do
    ids+=("$(printf '0x%08x' "$i")")
    d=$(rx_ns "$i")
    # uftpd is a daemon; -d keeps it in the foreground (logging to stderr) for the run.
    ip netns exec "$d" timeout -k 5 "$limit" /usr/bin/time -o "$run/r$i.time" -f '%U %S %w %c' \
      uftpd -d -q -I eth0 -U "${ids[-1]}" -D "$copies/r$i" >"$run/r$i.log" 2>&1 &
    daemons+=($!)
  done
  for i in $(seq "$n"); do wait_listen "$(rx_ns "$i")" udp 1044; done
  t0=$(now)
  # -H: the closed group of these N clients, so the announce ends once all N registered (the
  # counterpart of --min-receivers); -R in Kbit/s; -b 1400: the manual's "100-200 bytes less
  # than the path MTU".
  timed_sender "$run/sender.log" uftp -I eth0 -R $((RATE_MBIT * 1000)) -b 1400 \
    -H "$(IFS=,; echo "${ids[*]}")" "$src" && status+=" 0" || status+=" $?"
  mark_end
  sender_cpu=$(awk '{printf "%.2f", $1 + $2}' "$run/sender.time" 2>/dev/null || echo "")
  # Each daemon runs as timeout → time → uftpd: stop uftpd itself, so time reports its CPU.
  local p t u
  for p in "${daemons[@]}"; do
    for t in $(ps -o pid= --ppid "$p"); do
      for u in $(ps -o pid= --ppid "$t"); do kill "$u" 2>/dev/null || true; done
    done
  done
  for p in "${daemons[@]}"; do wait "$p" || true; done # bounded by their timeout
  daemons=()
}

run_fleetboot() { # [RECEIVER]
  local i url ticks rx=${1:-$receive}
  ticks=$(cpu_ticks "$fb_pid")
  t0=$(now)
  # --rate as the other senders are told; the interface is fleetboot's own choice (the
  # sender's namespace has one), with default flags.
  url=$("$fb" multicast send files/image.bin --min-receivers "$n" --rate "$RATE_MBIT" \
    --data-dir "$work/fb" 2>"$run/sender.log" | tail -1)
  echo "$url" >>"$run/sender.log"
  # Receivers start at once: they retry the manifest while the server hashes the file.
  for i in $(seq "$n"); do
    start_rx "$i" "$run/r$i.log" "$rx" "$url" --output "$copies/r$i/image.bin" \
      --state "$work/state-r$i"
  done
  wait_rx
  mark_end
  sender_cpu=$(awk -v t=$(($(cpu_ticks "$fb_pid") - ticks)) -v h="$CLK_TCK" 'BEGIN {printf "%.2f", t / h}')
  rm -f "$work"/state-r*
}

run_baseline() { run_fleetboot "$BASELINE_RECEIVER"; }

# ---- a row: RUNS runs of every tool, interleaved so drift hits every tool alike ----
results=$runs_dir/runs.tsv
printf 'row\ttool\trun\tverified\ttime_s\tsender_cpu_s\treceivers_cpu_s\tuser_s\tsystem_s\tsoftirq_s\tbusy_pct\tnote\n' >"$results"
for row in $ROWS; do
  n=${row%L}
  lossy=0
  [[ $row == *L ]] && lossy=1
  limit=$((60 + n * SIZE_MIB / 10)) # seconds, per process: a hung run ends, and fails
  log "row $row: $n receivers$( ((lossy)) && echo ", the first losing 2 %")"
  lab_up "$n" "$lossy"
  for r in $(seq "$RUNS"); do
    for tool in $TOOLS; do
      run=$runs_dir/$row/$tool-$r
      copies=$work/copies
      rm -rf "$copies"
      mkdir -p "$run"
      for i in $(seq "$n"); do mkdir -p "$copies/r$i"; done
      ((lossy)) && drop0=$(dropped)
      status=""
      t_end=""
      load=$(cut -d' ' -f1-3 /proc/loadavg) # other work on the machine shows here
      sender_cpu=""
      sys0=$(sys_ticks)
      "run_$tool" || status+=" (run: exit $?)"
      [[ -n $t_end ]] || mark_end
      # utime+stime of every receiver (GNU time's last line: it writes a line before it when the
      # process died of a signal, as uftpd does when the run ends)
      rx_cpu=$(for f in "$run"/r*.time; do tail -1 "$f"; done 2>/dev/null | awk '{t += $1 + $2} END {printf "%.2f", t}')
      ok=0
      for i in $(seq "$n"); do
        sha=$(sha256sum "$copies/r$i/image.bin" 2>/dev/null | cut -d' ' -f1) || true
        echo "r$i ${sha:-missing}" >>"$run/sha256"
        [[ $sha == "$src_sha" ]] && ok=$((ok + 1))
      done
      note="exit codes:$status; load before: $load"
      ((lossy)) && note+="; r1 dropped $(($(dropped) - drop0)) packets"
      time_s=""
      [[ $ok -eq $n ]] && time_s=$(awk -v a="$t0" -v b="$t_end" 'BEGIN {printf "%.2f", b - a}')
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$row" "$tool" "$r" "$ok/$n" "$time_s" "$sender_cpu" "$rx_cpu" \
        "$(awk -v h="$CLK_TCK" -v a="$sys0" -v b="$sys1" 'BEGIN {split(a, x, " "); split(b, y, " ");
          printf "%.2f\t%.2f\t%.2f\t%.0f\t", (y[1] - x[1]) / h, (y[2] - x[2]) / h, (y[3] - x[3]) / h,
          100 * (y[4] - x[4]) / (y[5] - x[5])}')$note" >>"$results"
      log "$(tail -1 "$results")"
      # Progress meters redraw with \r: keep each log's last lines, not megabytes of meter.
      # The lab's temp dir is named $WORK, so raw runs name no path of this machine.
      for f in "$run"/*.log; do
        tr '\r' '\n' <"$f" | grep -v '^\s*$' | tail -n 15 | sed "s|$work|\$WORK|g" >"$f.tail" && mv "$f.tail" "$f"
      done
    done
  done
  lab_down
done

# ---- the tables: per row, min / median / max over the verified runs ----
{
  echo "$SIZE_MIB MiB, $RUNS run(s) per row and tool, sender link ${RATE_MBIT} Mbit/s (tbf); $(nproc) CPUs;"
  echo "receivers' links $( ((NIC_GRO)) && echo "through NAPI with GRO (NIC_GRO=1)" || echo "one datagram at a time, no GRO (NIC_GRO=0)");"
  echo "fleetboot $(git -C "$repo" describe --always --dirty), Linux $(uname -r); run $stamp;"
  echo "$(dpkg-query -W -f '${Package} ${Version}\n' udpcast uftp curl | paste -sd, | sed 's/,/, /g')."
  [[ -z ${BASELINE_RECEIVER:-} ]] || echo "baseline: a fleetboot session received by ${BASELINE_NAME:-an older fleetboot-receive}."
  echo "Times and CPU seconds are min / median / max over the verified runs; \"aggregate\" is N copies ÷ median time."
  for row in $ROWS; do
    n=${row%L}
    echo
    echo "### N = $n$([[ $row == *L ]] && echo ", one receiver losing 2 %")"
    echo
    echo "| tool | verified runs | time s | aggregate Mbit/s | sender CPU s | receivers CPU s | system user s | system sys s | system softirq s | busy % |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    for tool in $TOOLS; do
      awk -F'\t' -v row="$row" -v tool="$tool" -v n="$n" -v mib="$SIZE_MIB" '
        function mmm(col,   k, v, i, j, t) {
          k = 0
          for (i = 1; i <= cnt; i++) if (vals[i, col] != "") v[++k] = vals[i, col] + 0
          if (k == 0) return "–"
          for (i = 2; i <= k; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
          med = (k % 2) ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2
          return k == 1 ? sprintf("%.2f", v[1]) : sprintf("%.2f / %.2f / %.2f", v[1], med, v[k])
        }
        $1 == row && $2 == tool {
          runs++
          if ($5 == "") next
          cnt++
          for (c = 5; c <= 11; c++) vals[cnt, c] = $c
        }
        END {
          if (runs == 0) exit
          if (cnt == 0) { printf "| %s | 0 of %d: failed | – | – | – | – | – | – | – | – |\n", tool, runs; exit }
          t = mmm(5); agg = sprintf("%.0f", n * mib * 8 * 1.048576 / med)
          printf "| %s | %d of %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", tool, cnt, runs, t, agg, mmm(6), mmm(7), mmm(8), mmm(9), mmm(10), mmm(11)
        }' "$results"
    done
  done
} | tee "$runs_dir/summary.md"
echo
echo "raw runs: $runs_dir"
