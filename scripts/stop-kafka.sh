#!/usr/bin/env bash
# Stop the broker scripts/start-kafka.sh started (its data stays) and wait until it is gone:
# SIGTERM first (a controlled shutdown that flushes the logs), SIGKILL after 60 s. Idempotent.
ROOT=${HIGGINS_KAFKA_ROOT:-/var/lib/higgins-kafka}
pids() { pgrep -f "kafka\.Kafka $ROOT/server\.properties"; }
pids >/dev/null || exit 0
kill $(pids) 2>/dev/null || true
for _ in $(seq 1 120); do
  pids >/dev/null || exit 0
  sleep 0.5
done
kill -9 $(pids) 2>/dev/null || true
