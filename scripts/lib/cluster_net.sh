# Network part of scripts/cluster.sh: a bridge in namespace bfc-switch and one
# namespace bfc-h<i> per host, joined to it by a veth pair (eth0 on the host,
# p<i> on the switch). Nothing is made in the root network namespace.

SWITCH_NS=bfc-switch
SUBNET_PREFIX=10.213.0

host_ns() { echo "bfc-h$1"; }
host_address() { echo "$SUBNET_PREFIX.$(($1 + 1))"; }

# cluster_namespaces: the names of all bfc- namespaces that exist now.
cluster_namespaces() {
  ip netns list 2>/dev/null | awk '{print $1}' | grep '^bfc-' || true
}

net_create_switch() {
  ip netns add "$SWITCH_NS"
  ip -n "$SWITCH_NS" link set lo up
  ip -n "$SWITCH_NS" link add br0 type bridge
  ip -n "$SWITCH_NS" link set br0 up
}

# net_add_host I: namespace bfc-h<I>, its link to the bridge, its address.
net_add_host() {
  local ns; ns="$(host_ns "$1")"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$SWITCH_NS" link add "p$1" type veth peer name eth0 netns "$ns"
  ip -n "$SWITCH_NS" link set "p$1" master br0 up
  ip -n "$ns" addr add "$(host_address "$1")/24" dev eth0
  ip -n "$ns" link set eth0 up
}

# tbf_burst RATE: bytes the bucket holds: 10 ms at the rate, at least 64 KiB
# (a veth carries 64 KiB GSO packets; tbf needs burst >= rate / HZ).
tbf_burst() {
  local bytes; bytes="$(rate_bytes_per_second "$1")"
  local burst=$((bytes / 100))
  [ "$burst" -lt 65536 ] && burst=65536
  echo "$burst"
}

# net_shape I RATE: tbf on both ends of host I's link (each shapes the
# direction it sends).
net_shape() {
  local burst; burst="$(tbf_burst "$2")"
  ip netns exec "$(host_ns "$1")" tc qdisc replace dev eth0 root tbf \
    rate "$2" burst "$burst" latency 100ms
  ip netns exec "$SWITCH_NS" tc qdisc replace dev "p$1" root tbf \
    rate "$2" burst "$burst" latency 100ms
}

# net_shaping I: one line on host I's qdiscs (host side, switch side).
net_shaping() {
  local here there
  here="$(ip netns exec "$(host_ns "$1")" tc qdisc show dev eth0 2>/dev/null | head -1)"
  there="$(ip netns exec "$SWITCH_NS" tc qdisc show dev "p$1" 2>/dev/null | head -1)"
  echo "host side: ${here:-none}; switch side: ${there:-none}"
}

# net_kill_leftovers NS: ends every process still in namespace NS (all of
# them were started through this cluster: its sshd and their sessions).
net_kill_leftovers() {
  local pids waited=0
  pids="$(ip netns pids "$1" 2>/dev/null || true)"
  [ -z "$pids" ] && return 0
  kill -TERM $pids 2>/dev/null || true
  while [ -n "$(ip netns pids "$1" 2>/dev/null)" ] && [ "$waited" -lt 50 ]; do
    sleep 0.1; waited=$((waited + 1))
  done
  pids="$(ip netns pids "$1" 2>/dev/null || true)"
  [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
}

# net_delete_all: removes every bfc- namespace (hosts first, then the switch).
net_delete_all() {
  local ns
  for ns in $(cluster_namespaces | grep -v "^$SWITCH_NS\$"; cluster_namespaces | grep "^$SWITCH_NS\$"); do
    net_kill_leftovers "$ns"
    ip netns del "$ns"
  done
}
