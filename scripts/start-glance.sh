#!/usr/bin/env bash
# Glance (PyPI, pinned in scripts/glance/requirements.lock) in its own venv: glance-api alone (no
# registry, no cache, no image import) on 127.0.0.1:9292, served by waitress, Keystone tokens, the
# file store under /var/lib/higgins-glance/images, its database `glance` on the MariaDB of
# scripts/start-mariadb.sh (started here when needed); registered in the catalog as `glance`
# (type image) with its service user `glance`. Needs scripts/start-keystone.sh first.
# Idempotent: installs once, db-syncs once, starts when nothing answers, waits until it does.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ROOT=${HIGGINS_GLANCE_ROOT:-/var/lib/higgins-glance}
PORT=9292
URL=http://127.0.0.1:$PORT
KEYSTONE=http://127.0.0.1:5000
ADMIN_PASSWORD=${HIGGINS_KEYSTONE_ADMIN_PASSWORD:-admin-secret}
VENV=$ROOT/venv
DB_PASSWORD=secret  # the MariaDB user glance's, on a loopback-only test database
answering() { curl -fsS -o /dev/null "$URL/healthcheck" 2>/dev/null; }

mkdir -p "$ROOT/logs" "$ROOT/etc" "$ROOT/images" "$ROOT/staging" "$ROOT/tasks" "$ROOT/locks"
"$here/pinned-venv.sh" "$VENV" "$here/glance/requirements.lock"
sed -e "s#@ROOT@#$ROOT#g" -e "s#@VENV@#$VENV#g" -e "s#@DB_PASSWORD@#$DB_PASSWORD#g" \
  "$here/glance/glance-api.conf.in" >"$ROOT/etc/glance-api.conf"
export PYTHONWARNINGS=ignore::DeprecationWarning
# glance.wsgi.api reads $OS_GLANCE_CONFIG_DIR/glance-api.conf when it is imported.
export OS_GLANCE_CONFIG_DIR=$ROOT/etc

"$VENV/bin/python" "$here/keystone/bootstrap.py" "$KEYSTONE" "$ADMIN_PASSWORD" \
  --service glance image "$URL" glance

"$here/start-mariadb.sh" glance glance "$DB_PASSWORD"
# db_sync once per lock, and again when the database lost its tables (a new MariaDB data dir).
stamp=$ROOT/.db-synced-$(sha256sum "$here/glance/requirements.lock" | cut -c1-16)
synced() {
  [ -f "$stamp" ] && mariadb -h127.0.0.1 -uglance -p"$DB_PASSWORD" -N glance \
    -e 'SELECT version_num FROM alembic_version' 2>/dev/null | grep -q .
}
if ! synced; then
  echo "==> glance-manage db_sync (MariaDB database glance)"
  "$VENV/bin/glance-manage" --config-file "$ROOT/etc/glance-api.conf" db_sync \
    >>"$ROOT/logs/db-sync.log" 2>&1 || { tail -20 "$ROOT/logs/db-sync.log" >&2; exit 1; }
  rm -f "$ROOT"/.db-synced-*
  touch "$stamp"
fi

# A glance-api started with another configuration or lock is restarted (glance-api.sha says which).
code=$(cat "$ROOT/etc/glance-api.conf" "$here/glance/requirements.lock" | sha256sum | cut -c1-16)
if answering && [ "$(cat "$ROOT/glance-api.sha" 2>/dev/null)" != "$code" ] \
    && [ -f "$ROOT/glance-api.pid" ]; then
  echo "==> restarting glance-api (configuration changed)"
  kill "$(cat "$ROOT/glance-api.pid")" 2>/dev/null || true
  for _ in $(seq 1 40); do answering || break; sleep 0.25; done
fi

if ! answering; then
  echo "==> starting glance-api on $URL (logs: $ROOT/logs)"
  nohup "$VENV/bin/waitress-serve" --listen=127.0.0.1:$PORT --threads=4 \
    --max-request-body-size=4294967296 --ident=glance \
    glance.wsgi.api:application >"$ROOT/logs/stdout.log" 2>&1 &
  echo $! >"$ROOT/glance-api.pid"
  echo "$code" >"$ROOT/glance-api.sha"
  for _ in $(seq 1 120); do answering && break; sleep 0.5; done
  answering || { tail -20 "$ROOT/logs/stdout.log" "$ROOT/logs/glance-api.log" >&2
                 echo "glance-api did not answer" >&2; exit 1; }
fi
