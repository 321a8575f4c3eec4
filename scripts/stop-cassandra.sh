#!/usr/bin/env bash
# Stop the node scripts/start-cassandra.sh started (its data stays). Idempotent.
pkill -f 'org.apache.cassandra.service.CassandraDaemon' || true
