#!/usr/bin/env bash
# A cluster of emulated machines on this one, for multi-host tests:
#   cluster.sh up HOSTS [--bandwidth RATE] [--delay MS] [--loss PCT]
#                       [--slots K] [--ssh-port PORT]
#   cluster.sh down
#   cluster.sh status
#   cluster.sh run I COMMAND...   (runs COMMAND on host I, hostname bfc-h<I>)
# Host i is network namespace bfc-h<i> with address 10.213.0.(i+1)/24, linked
# to a bridge in namespace bfc-switch, and runs an sshd (hostname bfc-h<i>)
# for root by key. Files: build/cluster/ (hostfile, ssh_config, keys, pids).
# Needs root. Nothing is made in the root network namespace.
set -Eeuo pipefail  # -E: the ERR trap of `up` fires in its functions too
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLUSTER_DIR="$ROOT/build/cluster"
STATE="$CLUSTER_DIR/state"
source "$ROOT/scripts/lib/cluster_args.sh"
source "$ROOT/scripts/lib/cluster_net.sh"
source "$ROOT/scripts/lib/cluster_ssh.sh"

usage() {
  sed -n '2,7s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

require_root() {
  [ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, sshd); run it as root"
}

# parse_up ARGS...: sets HOSTS, RATE, SLOTS, PORT; refuses bad values and
# delay/loss without netem, before anything is made.
parse_up() {
  [ $# -ge 1 ] || die "up: give the number of hosts (1..16)"
  HOSTS="$1"; shift
  is_int_in "$HOSTS" 1 16 || die "up: HOSTS must be an integer from 1 to 16, not '$HOSTS'"
  HOSTS=$((10#$HOSTS)); RATE=""; DELAY=""; LOSS=""; SLOTS=2; PORT=22
  while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || die "up: $1 needs a value"
    case "$1" in
      --bandwidth) is_rate "$2" || die "up: --bandwidth takes a tc rate such as 1gbit or 500mbit, not '$2'"; RATE="$2" ;;
      --delay) is_number "$2" || die "up: --delay takes milliseconds (a number), not '$2'"; DELAY="$2" ;;
      --loss) is_number "$2" && awk -v p="$2" 'BEGIN { exit !(p <= 100) }' \
                || die "up: --loss takes a percentage from 0 to 100, not '$2'"; LOSS="$2" ;;
      --slots) is_int_in "$2" 1 1024 || die "up: --slots takes an integer from 1 to 1024, not '$2'"; SLOTS=$((10#$2)) ;;
      --ssh-port) is_int_in "$2" 1 65535 || die "up: --ssh-port takes a port from 1 to 65535, not '$2'"; PORT=$((10#$2)) ;;
      *) die "up: unknown option '$1' (see: cluster.sh help)" ;;
    esac
    shift 2
  done
  if [ -n "$DELAY$LOSS" ]; then
    kernel_has_netem || die "up: --delay/--loss need the netem qdisc, which this kernel ($(uname -r)) lacks"
    die "up: --delay/--loss are not supported yet (netem is there, but this script does not use it)"
  fi
  return 0
}

write_hostfile() {
  local i
  : > "$CLUSTER_DIR/hostfile"
  for ((i = 0; i < HOSTS; i++)); do
    echo "$(host_address "$i") slots=$SLOTS" >> "$CLUSTER_DIR/hostfile"
  done
}

print_usage_notes() {
  cat <<NOTES
cluster up: $HOSTS host(s) bfc-h0..bfc-h$((HOSTS - 1)) at $(host_address 0)..$(host_address $((HOSTS - 1))), sshd on port $PORT${RATE:+, links shaped to $RATE}
  run on host 0:  bash scripts/cluster.sh run 0 COMMAND...   (or: ip netns exec bfc-h0 COMMAND..., hostname not set)
  hostfile:       $CLUSTER_DIR/hostfile
  ssh config:     $CLUSTER_DIR/ssh_config   (ssh -F $CLUSTER_DIR/ssh_config bfc-h1 hostname)
  mpirun:         --hostfile $CLUSTER_DIR/hostfile --mca plm_rsh_agent "ssh -F $CLUSTER_DIR/ssh_config"
  tear down:      bash scripts/cluster.sh down
NOTES
}

cmd_up() {
  parse_up "$@"
  [ -d "$CLUSTER_DIR" ] || [ -n "$(cluster_namespaces)" ] && cmd_down >/dev/null
  command -v "$SSHD" >/dev/null || die "up: $SSHD is missing; run scripts/setup.sh (installs openssh-server)"
  mkdir -p "$CLUSTER_DIR"; chmod 700 "$CLUSTER_DIR"
  umask 077
  # A failure half way leaves nothing behind.
  trap 'echo "cluster.sh: up failed; tearing down" >&2; cmd_down >/dev/null 2>&1' ERR
  printf 'HOSTS=%s\nPORT=%s\nSLOTS=%s\nRATE=%s\n' "$HOSTS" "$PORT" "$SLOTS" "$RATE" > "$STATE"
  net_create_switch
  ssh_make_client_key
  local i
  for ((i = 0; i < HOSTS; i++)); do
    net_add_host "$i"
    [ -n "$RATE" ] && net_shape "$i" "$RATE"
    ssh_write_host_config "$i" "$PORT"
    ssh_start_host "$i"
  done
  for ((i = 0; i < HOSTS; i++)); do ssh_wait_listening "$i" "$PORT"; done
  ssh_write_client_files "$HOSTS" "$PORT"
  write_hostfile
  trap - ERR
  print_usage_notes
}

cmd_down() {
  local namespaces; namespaces="$(cluster_namespaces)"
  if [ ! -d "$CLUSTER_DIR" ] && [ -z "$namespaces" ]; then
    echo "cluster.sh: no cluster is up; nothing to do"
    return 0
  fi
  local dir
  for dir in "$CLUSTER_DIR"/h*/; do
    [ -d "$dir" ] || continue
    dir="${dir%/}"; ssh_stop_host "${dir##*/h}"
  done
  net_delete_all
  rm -rf "$CLUSTER_DIR"
  echo "cluster down"
}

cmd_status() {
  if [ ! -f "$STATE" ]; then
    echo "no cluster is up"
    [ -z "$(cluster_namespaces)" ] || echo "but bfc- namespaces exist: $(cluster_namespaces | xargs)"
    return 0
  fi
  source "$STATE"
  echo "cluster: $HOSTS host(s), sshd port $PORT, slots $SLOTS, bandwidth ${RATE:-unshaped}"
  local i state
  for ((i = 0; i < HOSTS; i++)); do
    if sshd_alive "$i"; then state="sshd pid $(sshd_pid "$i") alive"; else state="sshd NOT running"; fi
    echo "  $(host_ns "$i")  $(host_address "$i")  $state"
    echo "    $(net_shaping "$i")"
  done
}

cmd_run() {
  [ -f "$STATE" ] || die "run: no cluster is up"
  source "$STATE"
  [ $# -ge 2 ] || die "run: give a host number and a command"
  is_int_in "$1" 0 $((HOSTS - 1)) || die "run: host must be 0..$((HOSTS - 1)), not '$1'"
  local name; name="$(host_ns "$((10#$1))")"; shift
  exec ip netns exec "$name" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$name" "$@"
}

main() {
  local command="${1:-help}"; [ $# -gt 0 ] && shift
  case "$command" in
    help|-h|--help) usage; return 0 ;;
  esac
  require_root
  case "$command" in
    up) cmd_up "$@" ;;
    down) cmd_down ;;
    status) cmd_status ;;
    run) cmd_run "$@" ;;
    *) usage >&2; die "unknown command '$command'" ;;
  esac
}

main "$@"
