#!/usr/bin/env bash
# Stop the broker scripts/start-rabbitmq.sh started (its data stays). Idempotent.
RABBITMQ_NODENAME=higgins@localhost rabbitmqctl -q stop >/dev/null 2>&1 || true
