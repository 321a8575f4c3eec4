#!/usr/bin/env bash
# RabbitMQ (Debian's rabbitmq-server) on 127.0.0.1:5672, every listener on loopback.
# Idempotent: installs when missing (without letting the package start a daemon of its own),
# starts the broker when it does not answer, waits until it does.
set -euo pipefail
export RABBITMQ_NODENAME=higgins@localhost
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT=5672
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_DIST_PORT=25672
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export RABBITMQ_LOG_BASE=/var/log/higgins-rabbitmq
export RABBITMQ_MNESIA_BASE=/var/lib/higgins-rabbitmq

if ! command -v rabbitmq-server >/dev/null 2>&1; then
  echo "==> apt-get install rabbitmq-server"
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi
# healthy: the node answers and its AMQP listener takes connections (the node answers pings
# a moment before its listeners are up, while it recovers its queues)
healthy() {
  rabbitmq-diagnostics -q ping >/dev/null 2>&1 && (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null
}
if healthy; then exit 0; fi
mkdir -p "$RABBITMQ_LOG_BASE" "$RABBITMQ_MNESIA_BASE"
chown -R rabbitmq:rabbitmq "$RABBITMQ_LOG_BASE" "$RABBITMQ_MNESIA_BASE"
echo "==> starting RabbitMQ on 127.0.0.1:5672 (logs: $RABBITMQ_LOG_BASE)"
rabbitmq-server -detached
for _ in $(seq 1 120); do
  healthy && exit 0
  sleep 0.5
done
echo "RabbitMQ did not answer within 60 s; see $RABBITMQ_LOG_BASE" >&2
exit 1
