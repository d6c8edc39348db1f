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
