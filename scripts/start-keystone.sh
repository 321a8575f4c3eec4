#!/usr/bin/env bash
# Keystone (PyPI, pinned in scripts/keystone/requirements.lock) on SQLite, in its own venv,
# on 127.0.0.1:5000, bootstrapped with the personas and catalog of scripts/keystone/bootstrap.py.
# Idempotent: installs once, bootstraps once, starts when nothing answers, waits until it does.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ROOT=${HIGGINS_KEYSTONE_ROOT:-/var/lib/higgins-keystone}
PORT=5000
URL=http://127.0.0.1:$PORT
ADMIN_PASSWORD=${HIGGINS_KEYSTONE_ADMIN_PASSWORD:-admin-secret}
ENDPOINT=${HIGGINS_ENDPOINT:-http://127.0.0.1:9517/v1}
VENV=$ROOT/venv
answering() { curl -fsS -o /dev/null "$URL/v3" 2>/dev/null; }

mkdir -p "$ROOT/logs"
"$here/pinned-venv.sh" "$VENV" "$here/keystone/requirements.lock"
sed "s#@ROOT@#$ROOT#g" "$here/keystone/keystone.conf.in" >"$ROOT/keystone.conf"
export PYTHONWARNINGS=ignore::DeprecationWarning
manage=("$VENV/bin/keystone-manage" --config-file "$ROOT/keystone.conf")

if [ ! -f "$ROOT/.bootstrapped" ]; then
  echo "==> bootstrapping Keystone (SQLite at $ROOT/keystone.db)"
  mkdir -p "$ROOT/fernet-keys" "$ROOT/credential-keys"
  chmod 700 "$ROOT/fernet-keys" "$ROOT/credential-keys"
  "${manage[@]}" db_sync
  "${manage[@]}" fernet_setup --keystone-user root --keystone-group root
  "${manage[@]}" credential_setup --keystone-user root --keystone-group root
  "${manage[@]}" bootstrap --bootstrap-password "$ADMIN_PASSWORD" \
    --bootstrap-admin-url "$URL/v3" --bootstrap-public-url "$URL/v3" \
    --bootstrap-internal-url "$URL/v3" --bootstrap-region-id RegionOne
  touch "$ROOT/.bootstrapped"
fi

# A Keystone started from an older serve.py is restarted (the pid file records which one).
code=$(sha256sum "$here/keystone/serve.py" | cut -c1-16)
if answering && [ "$(cat "$ROOT/serve.sha" 2>/dev/null)" != "$code" ] && [ -f "$ROOT/keystone.pid" ]; then
  echo "==> restarting Keystone (serve.py changed)"
  kill "$(cat "$ROOT/keystone.pid")" 2>/dev/null || true
  for _ in $(seq 1 40); do answering || break; sleep 0.25; done
fi

if ! answering; then
  echo "==> starting Keystone on $URL (logs: $ROOT/logs)"
  nohup "$VENV/bin/python" "$here/keystone/serve.py" "$ROOT/keystone.conf" "$PORT" \
    >"$ROOT/logs/stdout.log" 2>&1 &
  echo $! >"$ROOT/keystone.pid"
  echo "$code" >"$ROOT/serve.sha"
  for _ in $(seq 1 120); do answering && break; sleep 0.5; done
  answering || { tail -20 "$ROOT/logs/stdout.log" >&2; echo "Keystone did not answer" >&2; exit 1; }
fi
"$VENV/bin/python" "$here/keystone/bootstrap.py" "$URL" "$ADMIN_PASSWORD" "$ENDPOINT"
