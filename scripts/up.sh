#!/usr/bin/env bash
# README command 1: set up everything, then run the embedded all-in-one on 127.0.0.1:9517.
# With --backend rabbitmq (or kafka): also start RabbitMQ (Kafka) and Cassandra (127.0.0.1),
# then run the api, processor and agent processes on them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
scripts/start-docker.sh
scripts/build-test-image.sh
for arg in "$@"; do
  if [ "$arg" = "rabbitmq" ] || [ "$arg" = "--backend=rabbitmq" ]; then
    scripts/start-rabbitmq.sh
    scripts/start-cassandra.sh
  fi
  if [ "$arg" = "kafka" ] || [ "$arg" = "--backend=kafka" ]; then
    scripts/start-kafka.sh
    scripts/start-cassandra.sh
  fi
done
exec .venv/bin/higgins up "$@"
