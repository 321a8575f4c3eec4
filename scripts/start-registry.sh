#!/usr/bin/env bash
# A local image registry (Debian's docker-registry) on 127.0.0.1:5050 for tests of image pulls.
# Idempotent: installs when missing, starts when not answering, waits until healthy.
set -euo pipefail
PORT=${HIGGINS_REGISTRY_PORT:-5050}
ROOT=/var/lib/higgins-registry
if ! command -v docker-registry >/dev/null 2>&1; then
  echo "==> apt-get install docker-registry"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry >/dev/null
fi
if curl -fsS "http://127.0.0.1:$PORT/v2/" >/dev/null 2>&1; then
  exit 0
fi
mkdir -p "$ROOT/data"
cat >"$ROOT/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $ROOT/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$PORT
YAML
echo "==> starting docker-registry on 127.0.0.1:$PORT"
nohup docker-registry serve "$ROOT/config.yml" >"$ROOT/registry.log" 2>&1 &
for _ in $(seq 1 60); do
  curl -fsS "http://127.0.0.1:$PORT/v2/" >/dev/null 2>&1 && exit 0
  sleep 0.5
done
echo "docker-registry did not become ready; see $ROOT/registry.log" >&2
exit 1
