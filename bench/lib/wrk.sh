# wrk, the fast client that verifies nothing, as the benches drive it (sourced).

# wrk_range_lua FILE MIB: writes a wrk script asking a random whole MiB of a MIB-MiB file per
# request.
wrk_range_lua() {
  cat >"$1" <<EOF
math.randomseed(os.time())
request = function()
  local first = math.random(0, $(($2 - 1))) * 1048576
  return wrk.format("GET", wrk.path, { Range = "bytes=" .. first .. "-" .. (first + 1048575) })
end
EOF
}

# wrk_summary OUTPUT: "mib_s= bytes= failed=" from wrk's own report ("N requests in Ts,
# X.YGB read", binary units), failed = non-2xx answers plus socket errors.
wrk_summary() {
  awk '
    function bytes(v,   u, n) {
      u = substr(v, length(v) - 1); n = v + 0
      if (u == "KB") n *= 1024; else if (u == "MB") n *= 1048576; else if (u == "GB") n *= 1073741824
      else if (u == "TB") n *= 1099511627776
      return n
    }
    / requests in / { b = bytes($5); secs = $4 + 0 }
    /Non-2xx/ { failed += $NF }
    /Socket errors/ { for (i = 4; i <= NF; i += 2) failed += $i + 0 }
    END { printf "mib_s=%.1f bytes=%.0f failed=%d\n", secs ? b / 1048576 / secs : 0, b, failed }' "$1"
}
