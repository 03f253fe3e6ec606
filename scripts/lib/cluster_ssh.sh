# ssh part of scripts/cluster.sh: per host an sshd in the host's network
# namespace and in its own UTS namespace (hostname bfc-h<i>) and mount
# namespace (a private /run holding sshd's privilege-separation directory, so
# the real /run is left alone). Keys and configs live in $CLUSTER_DIR only.

SSHD=/usr/sbin/sshd

# ssh_make_client_key: the cluster's client key and authorized_keys.
ssh_make_client_key() {
  ssh-keygen -q -t ed25519 -N "" -C "bfc-cluster" -f "$CLUSTER_DIR/id_ed25519"
  cp "$CLUSTER_DIR/id_ed25519.pub" "$CLUSTER_DIR/authorized_keys"
}

# ssh_write_host_config I PORT: host I's key and sshd_config.
ssh_write_host_config() {
  local dir="$CLUSTER_DIR/h$1"
  mkdir -p "$dir"
  ssh-keygen -q -t ed25519 -N "" -C "bfc-h$1" -f "$dir/ssh_host_ed25519_key"
  cat > "$dir/sshd_config" <<CONFIG
# sshd of cluster host bfc-h$1 (made by scripts/cluster.sh)
ListenAddress $(host_address "$1"):$2
HostKey $dir/ssh_host_ed25519_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $CLUSTER_DIR/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# The checkout's directories need not meet sshd's ownership rules.
StrictModes no
PrintMotd no
PrintLastLog no
MaxStartups 100:30:200
MaxSessions 100
CONFIG
}

# ssh_start_host I: starts host I's sshd; records its pid.
ssh_start_host() {
  local dir="$CLUSTER_DIR/h$1" name; name="$(host_ns "$1")"
  ip netns exec "$name" unshare --uts --mount sh -c '
    hostname "$1" && mount -t tmpfs -o mode=755 bfc-run /run && mkdir -m 755 /run/sshd &&
    exec "$2" -D -e -f "$3"' sh "$name" "$SSHD" "$dir/sshd_config" \
    </dev/null >"$dir/sshd.log" 2>&1 &
  echo "$!" > "$dir/sshd.started"
}

# ssh_wait_listening I PORT: waits (at most 10 s) until host I's sshd listens.
ssh_wait_listening() {
  local tries=0 address; address="$(host_address "$1")"
  while [ "$tries" -lt 100 ]; do
    if ip netns exec "$(host_ns "$1")" ss -Hltn "src $address" 2>/dev/null | grep -q ":$2\b"; then
      return 0
    fi
    sshd_alive "$1" || break
    sleep 0.1; tries=$((tries + 1))
  done
  echo "cluster.sh: sshd of bfc-h$1 did not listen on $address:$2 within 10 s; its log:" >&2
  sed 's/^/  /' "$CLUSTER_DIR/h$1/sshd.log" >&2
  return 1
}

# sshd_pid I: the pid recorded for host I's sshd (empty if none).
sshd_pid() {
  cat "$CLUSTER_DIR/h$1/sshd.started" 2>/dev/null || true
}

# sshd_alive I: host I's recorded sshd runs (and is ours: its command line
# names our config, so a reused pid is not taken for it).
sshd_alive() {
  local pid; pid="$(sshd_pid "$1")"
  [ -n "$pid" ] && { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null \
    | grep -qF "$CLUSTER_DIR/h$1/sshd_config"
}

# ssh_stop_host I: ends host I's sshd (TERM, then KILL after 5 s).
ssh_stop_host() {
  sshd_alive "$1" || return 0
  local pid tries=0; pid="$(sshd_pid "$1")"
  kill -TERM "$pid" 2>/dev/null || true
  while sshd_alive "$1" && [ "$tries" -lt 50 ]; do sleep 0.1; tries=$((tries + 1)); done
  sshd_alive "$1" && kill -KILL "$pid" 2>/dev/null || true
}

# ssh_write_client_files HOSTS PORT: ssh_config and known_hosts for clients.
ssh_write_client_files() {
  local i name address
  : > "$CLUSTER_DIR/known_hosts"
  : > "$CLUSTER_DIR/ssh_config"
  for ((i = 0; i < $1; i++)); do
    name="$(host_ns "$i")"; address="$(host_address "$i")"
    echo "$name $(cut -d' ' -f1,2 "$CLUSTER_DIR/h$i/ssh_host_ed25519_key.pub")" \
      >> "$CLUSTER_DIR/known_hosts"
    cat >> "$CLUSTER_DIR/ssh_config" <<CONFIG
Host $name $address
  HostName $address
  Port $2
  User root
  HostKeyAlias $name
  IdentityFile $CLUSTER_DIR/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $CLUSTER_DIR/known_hosts
  StrictHostKeyChecking accept-new
  BatchMode yes
  ConnectTimeout 5

CONFIG
  done
}
