#!/usr/bin/env bash
# tempest with zun-tempest-plugin (Zun's own API tests), pinned, in a venv of their own:
# /var/lib/higgins-tempest/bin/tempest. tests/integration/test_tempest.py runs them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/pinned-venv.sh" "${HIGGINS_TEMPEST_VENV:-/var/lib/higgins-tempest}" \
  "$here/tempest/requirements.lock"
