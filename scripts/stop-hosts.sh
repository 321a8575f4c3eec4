#!/usr/bin/env bash
# Stop the test hosts of scripts/start-hosts.sh: each host's dockerd (by its pidfile), whatever
# still runs in its namespace, the namespaces, veth pairs, cgroups and the bridge. Idempotent.
# The engines' data (/var/lib/higgins-hosts: the loaded images) stays unless --purge is given.
set -euo pipefail
DOCKER=/usr/bin/docker
BRIDGE=higgins-hosts

stop_pids() {  # TERM, up to 20 s for a clean shutdown (dockerd stops its containers), then KILL
  local pid
  kill -TERM "$@" 2>/dev/null || true
  for _ in $(seq 1 200); do
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && break; pid=; done
    [[ -z $pid ]] && return 0
    sleep 0.1
  done
  for pid in "$@"; do
    kill -0 "$pid" 2>/dev/null || continue
    echo "pid $pid did not stop in 20 s: killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  done
}

engines=()
for run in /run/higgins-hosts/host-*; do
  [[ -d $run ]] || continue
  if pid=$(cat "$run/docker.pid" 2>/dev/null) && [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    echo "==> stopping dockerd of $(basename "$run") (pid $pid)"
    # its containers are killed first, as a power-off would (a clean stop of each one waits
    # for its stop timeout, and busybox's sleep as PID 1 ignores SIGTERM)
    engine=(timeout 10 "$DOCKER" -H "unix://$run/docker.sock")
    "${engine[@]}" ps -q 2>/dev/null | xargs -r "${engine[@]}" kill >/dev/null 2>&1 || true
    engines+=("$pid")
  fi
done
(( ${#engines[@]} == 0 )) || stop_pids "${engines[@]}"   # all at once: each takes ~3 s
for netns in /run/netns/higgins-host-*; do
  [[ -e $netns ]] || continue
  ns=$(basename "$netns")
  # what outlived its engine in the namespace (a shim, a test's agent): it must not keep it
  leftovers=$(ip netns pids "$ns" 2>/dev/null || true)
  [[ -z $leftovers ]] || stop_pids $leftovers  # word splitting: one pid per word
  echo "==> removing namespace $ns"
  ip netns del "$ns"
done
for veth in $(ip -o link show type veth 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 \
                | grep '^higgins-h[0-9]*$' || true); do
  ip link del "$veth" 2>/dev/null || true   # gone already with its peer's namespace, mostly
done
# the hosts' cgroup parents (--cgroup-parent), each removed once no process is left in it
for parent in /sys/fs/cgroup/*/higgins-host-*; do
  [[ -d $parent ]] && find "$parent" -depth -type d -exec rmdir {} + 2>/dev/null || true
done
if ip link show "$BRIDGE" >/dev/null 2>&1; then
  echo "==> removing bridge $BRIDGE"
  ip link del "$BRIDGE"
fi
rm -rf /run/higgins-hosts
if [[ ${1:-} == --purge ]]; then
  echo "==> removing /var/lib/higgins-hosts"
  rm -rf /var/lib/higgins-hosts
fi
