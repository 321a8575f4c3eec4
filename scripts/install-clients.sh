#!/usr/bin/env bash
# python-openstackclient with the python-zunclient plugin, pinned, in a venv of their own
# (their dependencies are not Higgins'): /var/lib/higgins-clients/bin/openstack and .../zun.
# Idempotent: reinstalls only when scripts/clients/requirements.lock changes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
VENV=${HIGGINS_CLIENTS_VENV:-/var/lib/higgins-clients}
stamp=$VENV/.installed-$(sha256sum "$here/clients/requirements.lock" | cut -c1-16)
[ -f "$stamp" ] && exit 0
echo "==> installing openstack and zun clients into $VENV (pinned)"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m uv --version >/dev/null 2>&1 || "$VENV/bin/pip" install -q uv==0.13.9
"$VENV/bin/python" -m uv pip install -q --python "$VENV/bin/python" -r "$here/clients/requirements.lock"
rm -f "$VENV"/.installed-*
touch "$stamp"
