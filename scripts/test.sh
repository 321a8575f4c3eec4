#!/usr/bin/env bash
# README command 2: set up everything, start the services the tests need, run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
scripts/start-docker.sh
scripts/build-test-image.sh
scripts/start-registry.sh
scripts/start-cassandra.sh
scripts/start-rabbitmq.sh
scripts/start-kafka.sh
scripts/start-keystone.sh
scripts/start-glance.sh
scripts/start-neutron.sh
scripts/start-horizon.sh
scripts/start-cinder.sh
scripts/start-heat.sh
scripts/install-clients.sh
scripts/install-tempest.sh
scripts/install-schemathesis.sh
scripts/install-ceilometer.sh
scripts/install-helm.sh
echo "==> lint and layer contracts"
.venv/bin/ruff check higgins tests bench
.venv/bin/lint-imports
.venv/bin/mypy higgins
echo "==> tests"
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$rc"
