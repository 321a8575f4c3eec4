#!/usr/bin/env bash
# pinned-venv.sh VENV LOCK: a Python venv at VENV holding exactly LOCK's pins (uv), for a tool
# whose dependencies are not Higgins' own. Idempotent: reinstalls only when LOCK changes.
set -euo pipefail
VENV=$1
LOCK=$2
stamp=$VENV/.installed-$(sha256sum "$LOCK" | cut -c1-16)
[ -f "$stamp" ] && exit 0
echo "==> installing $(basename "$(dirname "$LOCK")") into $VENV (pinned by $LOCK)"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m uv --version >/dev/null 2>&1 || "$VENV/bin/pip" install -q uv==0.13.9
"$VENV/bin/python" -m uv pip install -q --python "$VENV/bin/python" -r "$LOCK"
rm -f "$VENV"/.installed-*
touch "$stamp"
