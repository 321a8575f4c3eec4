#!/usr/bin/env bash
# Start the Docker engine if none answers, and wait until it does. Idempotent.
# Bridge networking without iptables: containers reach each other, not the outside (none here).
set -euo pipefail
DOCKER=/usr/bin/docker   # Debian's client matches Debian's engine (the one in /usr/local/bin is newer)
log=${HIGGINS_DOCKERD_LOG:-/var/log/higgins-dockerd.log}

if ! "$DOCKER" version >/dev/null 2>&1; then
  echo "==> starting dockerd (log: $log)"
  nohup dockerd --iptables=false -H unix:///var/run/docker.sock >"$log" 2>&1 &
fi
for _ in $(seq 1 60); do
  "$DOCKER" version >/dev/null 2>&1 && exit 0
  sleep 0.5
done
echo "Docker engine did not become ready; last lines of $log:" >&2
tail -20 "$log" >&2 || true
exit 1
