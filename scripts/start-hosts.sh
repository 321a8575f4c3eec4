#!/usr/bin/env bash
# Start N test hosts on this machine (default 2) and wait until each is healthy. Idempotent.
# The kernel has no Open vSwitch: hosts are network namespaces joined to a Linux bridge
# (higgins-hosts, 10.77.0.1/24) by veth pairs. Host i is namespace higgins-host-i with address
# 10.77.0.(10+i)/24 (default route via the bridge) and a Docker engine of its own running inside
# that namespace: socket /run/higgins-hosts/host-i/docker.sock, data under
# /var/lib/higgins-hosts/host-i, log /var/log/higgins-hosts/host-i.log, docker0 on 10.78.i.1/24,
# with busybox:local loaded from the shared engine. scripts/stop-hosts.sh undoes all of it.
set -euo pipefail
DOCKER=/usr/bin/docker   # Debian's client, matching Debian's engine (not /usr/local/bin's)
BRIDGE=higgins-hosts
count=${1:-2}
[[ $count =~ ^[0-9]+$ ]] && (( count >= 1 && count <= 200 )) \
  || { echo "usage: $0 [N]   (1..200 hosts)" >&2; exit 2; }

host_run() { echo "/run/higgins-hosts/host-$1"; }
host_socket() { echo "unix://$(host_run "$1")/docker.sock"; }
host_log() { echo "/var/log/higgins-hosts/host-$1.log"; }

engine_alive() {  # the host's dockerd, per its pidfile, is running
  local pid
  pid=$(cat "$(host_run "$1")/docker.pid" 2>/dev/null) || return 1
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

make_bridge() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    echo "==> bridge $BRIDGE (10.77.0.1/24)"
    ip link add "$BRIDGE" type bridge
  fi
  ip addr replace 10.77.0.1/24 dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

make_namespace() {  # namespace, veth pair, address, route; each step only when missing
  local i=$1 ns=higgins-host-$1 veth=higgins-h$1 address=10.77.0.$((10 + $1))
  if [[ ! -e /run/netns/$ns ]]; then
    echo "==> namespace $ns ($address)"
    ip netns add "$ns"
  fi
  if ! ip link show "$veth" >/dev/null 2>&1; then
    ip -n "$ns" link del eth0 2>/dev/null || true
    ip link add "$veth" type veth peer name eth0 netns "$ns"
  fi
  ip link set "$veth" master "$BRIDGE" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr replace "$address/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route replace default via 10.77.0.1
  # the host's containers (no NAT: --iptables=false) are reached through the host
  ip route replace "10.78.$i.0/24" via "$address" dev "$BRIDGE"
}

cgroup_mounts() {
  # `ip netns exec` mounts a sysfs of the namespace on /sys, hiding the cgroup hierarchies
  # Docker needs: the commands that mount the machine's again (same hierarchies) in its place.
  awk '$2 ~ "^/sys/fs/cgroup" {
         printf "mkdir -p %s && mount -t %s -o %s %s %s\n", $2, $3, $4, $1, $2 }' /proc/self/mounts
}

start_engine() {
  local i=$1 run log
  run=$(host_run "$i") log=$(host_log "$i")
  engine_alive "$i" && return 0
  echo "==> dockerd in higgins-host-$i (log: $log)"
  mkdir -p "$run" /var/lib/higgins-hosts/host-$i /var/log/higgins-hosts
  echo '{}' >"$run/daemon.json"   # not the machine's /etc/docker/daemon.json
  nohup ip netns exec "higgins-host-$i" sh -c "$(cgroup_mounts) && exec \"\$@\"" dockerd \
    dockerd --config-file "$run/daemon.json" \
    -H "$(host_socket "$i")" --pidfile "$run/docker.pid" \
    --data-root "/var/lib/higgins-hosts/host-$i" --exec-root "$run/exec" \
    --storage-driver overlay2 --iptables=false --bip "10.78.$i.1/24" \
    --cgroup-parent "/higgins-host-$i" --shutdown-timeout 2 >>"$log" 2>&1 </dev/null &
}

wait_engine() {
  local i=$1
  for _ in $(seq 1 120); do
    "$DOCKER" -H "$(host_socket "$i")" version >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "the engine of higgins-host-$i did not become ready; last lines of $(host_log "$i"):" >&2
  tail -20 "$(host_log "$i")" >&2 || true
  exit 1
}

load_image() {
  local i=$1
  "$DOCKER" -H "$(host_socket "$i")" image inspect busybox:local >/dev/null 2>&1 && return 0
  echo "==> loading busybox:local into higgins-host-$i"
  "$DOCKER" save busybox:local | "$DOCKER" -H "$(host_socket "$i")" load -q >/dev/null
}

"$DOCKER" image inspect busybox:local >/dev/null 2>&1 \
  || { echo "busybox:local is missing from the shared engine: run scripts/build-test-image.sh" >&2
       exit 1; }
make_bridge
for i in $(seq 1 "$count"); do make_namespace "$i"; start_engine "$i"; done
for i in $(seq 1 "$count"); do wait_engine "$i"; load_image "$i"; done
for i in $(seq 1 "$count"); do
  echo "higgins-host-$i 10.77.0.$((10 + i)) $(host_socket "$i")"
done
