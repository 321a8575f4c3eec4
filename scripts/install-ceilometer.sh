#!/usr/bin/env bash
# Ceilometer (PyPI, pinned in scripts/ceilometer/requirements.lock) in a venv of its own (its
# dependencies are not Higgins'): /var/lib/higgins-ceilometer/bin/ceilometer-agent-notification,
# which tests/integration/ceilometer.py runs to meter Higgins' notifications. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/pinned-venv.sh" "${HIGGINS_CEILOMETER_VENV:-/var/lib/higgins-ceilometer}" \
  "$here/ceilometer/requirements.lock"
