# CPU accounting the bench scripts share (sourced).

# utime+stime (ticks) of a running process and its live children (nginx workers), threads
# included, plus cutime+cstime: the children it has reaped (tftpd-hpa's one per transfer).
cpu_ticks() {
  local total=0 p
  for p in "$1" $(ps -o pid= --ppid "$1" 2>/dev/null); do
    [[ -r /proc/$p/stat ]] || continue
    total=$((total + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13 + $14 + $15}')))
  done
  echo "$total"
}

# System-wide ticks from /proc/stat: "user system softirq busy total" (user includes nice,
# busy = all but idle and iowait).
sys_ticks() {
  awk '/^cpu / {print $2 + $3, $4, $8, $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat
}

# Every CPU's "busy/total" ticks, cpu0 first: which side of a pinned run (servers on CPU 0,
# the client on CPU 1) ran out of CPU, softirq included where it ran.
per_cpu_ticks() {
  awk '/^cpu[0-9]/ {printf "%s%d/%d", sep, $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; sep = " "}
    END {print ""}' /proc/stat
}

# Segments and datagrams this network namespace has received so far: "tcp_in_segs
# udp_in_datagrams" (/proc/net/snmp). Beside the CPU it tells how many pieces a client took
# the same bytes in.
packets_in() {
  awk '$1 == "Tcp:" && $11 ~ /^[0-9]+$/ {t = $11} $1 == "Udp:" && $2 ~ /^[0-9]+$/ {u = $2}
    END {print t + 0, u + 0}' /proc/net/snmp
}

# Percent busy of CPU `n` between two per_cpu_ticks readings: busy_percent N BEFORE AFTER.
busy_percent() {
  awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN {
    split(a, x, " "); split(b, y, " "); split(x[n + 1], p, "/"); split(y[n + 1], q, "/")
    if (q[2] > p[2]) printf "%.0f\n", 100 * (q[1] - p[1]) / (q[2] - p[2]) }'
}

# A cpuacct cgroup (v1) per server, where the machine has one writable: it counts every
# process the server forks, also those reaped by no one (tftpd-hpa's per-transfer children
# with SIGCHLD ignored), which /proc/PID/stat never sees.
cpuacct_root=/sys/fs/cgroup/cpuacct
# cpu_group NAME: sets the array `grp` to a command prefix that runs what follows inside group
# NAME (joined before the server starts, so every process it forks is counted), or to
# nothing where no group can be made.
cpu_group() {
  local group=$cpuacct_root/fleetboot-bench-$1
  grp=()
  [[ -w $cpuacct_root ]] && mkdir -p "$group" 2>/dev/null || return 0
  # shellcheck disable=SC2016 # $$ and $0 belong to the inner shell
  grp=(bash -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$group")
}
# server_ticks PID...: CPU ticks of the servers: their cgroup's total where they have one,
# else cpu_ticks.
server_ticks() {
  local total=0 p group ns
  for p in "$@"; do
    group=$(awk -F: '$2 ~ /(^|,)cpuacct(,|$)/ {print $3}' "/proc/$p/cgroup" 2>/dev/null)
    if [[ $group == /fleetboot-bench-* && -r $cpuacct_root$group/cpuacct.usage ]]; then
      ns=$(cat "$cpuacct_root$group/cpuacct.usage")
      total=$((total + ns * $(getconf CLK_TCK) / 1000000000))
    else
      total=$((total + $(cpu_ticks "$p")))
    fi
  done
  echo "$total"
}
# cpu_groups_remove: deletes the groups once their processes are gone.
cpu_groups_remove() {
  local g
  for g in "$cpuacct_root"/fleetboot-bench-*; do
    [[ -d $g ]] && rmdir "$g" 2>/dev/null || true
  done
}
