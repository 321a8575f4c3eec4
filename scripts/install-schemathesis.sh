#!/usr/bin/env bash
# schemathesis (property-based API fuzzing from the OpenAPI document), pinned, in a venv of its
# own: /var/lib/higgins-schemathesis/bin/schemathesis. tests/integration/test_openapi.py runs it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/pinned-venv.sh" "${HIGGINS_SCHEMATHESIS_VENV:-/var/lib/higgins-schemathesis}" \
  "$here/schemathesis/requirements.lock"
