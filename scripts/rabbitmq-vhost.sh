#!/usr/bin/env bash
# Create (or, with --delete, remove) a RabbitMQ virtual host on the broker of
# scripts/start-rabbitmq.sh and let user guest use it. Idempotent. Tests isolate themselves so.
set -euo pipefail
export RABBITMQ_NODENAME=higgins@localhost
if [ "${1:-}" = "--delete" ]; then
  rabbitmqctl -q delete_vhost "$2" >/dev/null 2>&1 || true
  exit 0
fi
vhost="$1"
rabbitmqctl -q list_vhosts name | grep -qx -- "$vhost" || rabbitmqctl -q add_vhost "$vhost" >/dev/null
rabbitmqctl -q set_permissions -p "$vhost" guest '.*' '.*' '.*' >/dev/null
