# Argument checks for scripts/cluster.sh. Each check prints nothing and
# returns 0 when the value is good; die() prints one line and exits.

die() {
  echo "cluster.sh: $*" >&2
  exit 2
}

# is_int_in VALUE MIN MAX: VALUE is a decimal integer in [MIN, MAX].
is_int_in() {
  [[ "$1" =~ ^[0-9]+$ ]] && [ "$((10#$1))" -ge "$2" ] && [ "$((10#$1))" -le "$3" ]
}

# is_number VALUE: a non-negative decimal number (5, 0.5, 12.25).
is_number() {
  [[ "$1" =~ ^[0-9]+(\.[0-9]+)?$ ]]
}

# is_rate VALUE: a positive tc rate with its unit (500mbit, 1gbit, 1.5Gbit,
# 100kbps, 10mibit). tc also takes a bare number (bytes/s); we want the unit.
is_rate() {
  local value="${1,,}"
  [[ "$value" =~ ^[0-9]+(\.[0-9]+)?([kmgt]i?)?(bit|bps)$ ]] || return 1
  [ "$(rate_bytes_per_second "$value")" -gt 0 ]
}

# rate_bytes_per_second RATE: the rate in bytes per second (rounded down).
rate_bytes_per_second() {
  local value="${1,,}"
  [[ "$value" =~ ^([0-9]+(\.[0-9]+)?)(([kmgt])(i?))?(bit|bps)$ ]] || { echo 0; return; }
  local number="${BASH_REMATCH[1]}" prefix="${BASH_REMATCH[4]}" binary="${BASH_REMATCH[5]}"
  local unit="${BASH_REMATCH[6]}"
  awk -v n="$number" -v p="$prefix" -v b="$binary" -v u="$unit" 'BEGIN {
    base = (b == "i") ? 1024 : 1000
    power = index("kmgt", p)
    bytes = n * base ^ power
    if (u == "bit") bytes /= 8
    printf "%d\n", bytes
  }'
}

# kernel_has_netem: the netem qdisc can be made. Probed in a throwaway,
# unnamed network namespace that ends with the probe, so nothing is left.
kernel_has_netem() {
  unshare --net tc qdisc add dev lo root netem delay 1ms >/dev/null 2>&1
}
