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
scripts/install-clients.sh
scripts/install-tempest.sh
scripts/install-schemathesis.sh
scripts/install-ceilometer.sh
echo "==> lint and layer contracts"
.venv/bin/ruff check higgins tests bench
.venv/bin/lint-imports
.venv/bin/mypy higgins
# With arguments: one pytest run of exactly those (e.g. scripts/test.sh tests/unit -x).
# Without: the whole suite in three parts, pytest's exit code 5 (nothing collected) a failure:
#   1. unit, API and contract tests (quick; the contract tests share fixed keyspaces);
#   2. the integration tests, HIGGINS_TEST_WORKERS (default 2) at a time, a file's tests on
#      one worker (pytest-xdist --dist loadfile): they mostly wait on Docker, retries and
#      services, and each makes its own deployment (bus namespace, keyspace, host, ports);
#   3. the integration tests marked `exclusive` (they restart a service every test shares),
#      alone.
run_pytest() {
  set +e
  .venv/bin/python -m pytest "$@"
  local rc=$?
  set -e
  if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure here" >&2
    rc=1
  fi
  return "$rc"
}
if [ "$#" -gt 0 ]; then
  echo "==> tests: $*"
  run_pytest "$@"
  exit $?
fi
failed=0
echo "==> tests 1/3: unit, API, contract"
run_pytest tests --ignore=tests/integration || failed=1
echo "==> tests 2/3: integration, ${HIGGINS_TEST_WORKERS:-2} at a time"
run_pytest tests/integration -m "not exclusive" -n "${HIGGINS_TEST_WORKERS:-2}" \
  --dist loadfile || failed=1
echo "==> tests 3/3: integration that restarts shared services, alone"
run_pytest tests/integration -m exclusive || failed=1
exit "$failed"
