#!/usr/bin/env bash
# python-openstackclient with the python-zunclient plugin, pinned, in a venv of their own
# (their dependencies are not Higgins'): /var/lib/higgins-clients/bin/openstack and .../zun.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/pinned-venv.sh" "${HIGGINS_CLIENTS_VENV:-/var/lib/higgins-clients}" \
  "$here/clients/requirements.lock"
