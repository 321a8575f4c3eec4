#!/usr/bin/env bash
# Stop the node scripts/start-cassandra.sh started (its data stays) and wait until it is gone.
# Idempotent.
pkill -f 'org.apache.cassandra.service.CassandraDaemon' || exit 0
for _ in $(seq 1 120); do
  pgrep -f 'org.apache.cassandra.service.CassandraDaemon' >/dev/null || exit 0
  sleep 0.5
done
pkill -9 -f 'org.apache.cassandra.service.CassandraDaemon' || true
