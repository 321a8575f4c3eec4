#!/usr/bin/env bash
# Cinder (PyPI, pinned in scripts/cinder/requirements.lock) in its own venv: cinder-api on
# 127.0.0.1:8776 (scripts/cinder/serve.py, one threaded process), cinder-scheduler and
# cinder-volume with one backend `local` of Higgins' sparse-file driver
# (scripts/cinder/higgins_cinder: volumes are files in /var/lib/higgins-cinder/volumes, attached
# as driver_volume_type `local`; docs/cinder-data-path.md says why), its database `cinder` on the
# MariaDB of scripts/start-mariadb.sh (SQLite answered "database is locked" to concurrent
# creates), RPC over the
# RabbitMQ vhost `cinder`; registered in the catalog as `cinder` (type block-storage) with its
# service user `cinder`. Needs scripts/start-keystone.sh and scripts/start-rabbitmq.sh first.
# Idempotent: installs once, db-syncs once, starts what is not running (all three again when
# scripts/cinder changed), waits until a volume can be scheduled (scripts/cinder/ready.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ROOT=${HIGGINS_CINDER_ROOT:-/var/lib/higgins-cinder}
PORT=8776
URL=http://127.0.0.1:$PORT
KEYSTONE=http://127.0.0.1:5000
ADMIN_PASSWORD=${HIGGINS_KEYSTONE_ADMIN_PASSWORD:-admin-secret}
VENV=$ROOT/venv
CONF=$ROOT/etc/cinder.conf
POOL=higgins-cinder@local#local  # [DEFAULT] host @ backend # its volume_backend_name
DB_PASSWORD=secret  # the MariaDB user cinder's, on a loopback-only test database
answering() { curl -sS -o /dev/null "$URL/" 2>/dev/null; }
running() {  # running NAME: its pid file names a live process started on our config
  local pid
  pid=$(cat "$ROOT/$1.pid" 2>/dev/null) || return 1
  [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$CONF"
}
stop() {  # stop NAME: the process of its pid file (and cinder-volume's backend child) ends
  local pid
  running "$1" || return 0
  pid=$(cat "$ROOT/$1.pid")
  pkill -TERM -P "$pid" 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
  kill -KILL "$pid" 2>/dev/null || true
}
ready() { "$VENV/bin/python" "$here/cinder/ready.py" "$URL" "$KEYSTONE" "$ADMIN_PASSWORD" "$POOL"; }
fail() {
  tail -n 15 "$ROOT"/logs/*.log >&2 || true
  echo "$1" >&2
  exit 1
}

curl -fsS -o /dev/null "$KEYSTONE/v3" || fail "Keystone does not answer: run scripts/start-keystone.sh"
(exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null || fail "RabbitMQ does not answer: run scripts/start-rabbitmq.sh"
mkdir -p "$ROOT/logs" "$ROOT/etc" "$ROOT/state" "$ROOT/locks" "$ROOT/volumes"
chmod 700 "$ROOT/volumes"
"$here/pinned-venv.sh" "$VENV" "$here/cinder/requirements.lock"
sed -e "s#@ROOT@#$ROOT#g" -e "s#@VENV@#$VENV#g" -e "s#@DB_PASSWORD@#$DB_PASSWORD#g" \
  "$here/cinder/cinder.conf.in" >"$CONF"
"$here/rabbitmq-vhost.sh" cinder
export PYTHONWARNINGS=ignore::DeprecationWarning
export PYTHONPATH=$here/cinder  # the driver package higgins_cinder, for cinder-volume

"$VENV/bin/python" "$here/keystone/bootstrap.py" "$KEYSTONE" "$ADMIN_PASSWORD" \
  --service cinder block-storage "$URL/v3" cinder

"$here/start-mariadb.sh" cinder cinder "$DB_PASSWORD"
# db sync once per lock, and again when the database lost its tables (a new MariaDB data dir)
stamp=$ROOT/.db-synced-$(sha256sum "$here/cinder/requirements.lock" | cut -c1-16)
synced() {
  [ -f "$stamp" ] && mariadb -h127.0.0.1 -ucinder -p"$DB_PASSWORD" -N cinder \
    -e 'SELECT version_num FROM alembic_version' 2>/dev/null | grep -q .
}
if ! synced; then
  echo "==> cinder-manage db sync (MariaDB database cinder)"
  "$VENV/bin/cinder-manage" --config-file "$CONF" db sync >>"$ROOT/logs/db-sync.log" 2>&1 \
    || fail "cinder-manage db sync failed"
  rm -f "$ROOT"/.db-synced-*
  touch "$stamp"
fi

# Processes started from other code or configuration are restarted.
code=$(cat "$here"/cinder/serve.py "$here"/cinder/cinder.conf.in "$here"/cinder/higgins_cinder/*.py \
  | sha256sum | cut -c1-16)
if [ "$(cat "$ROOT/code.sha" 2>/dev/null)" != "$code" ]; then
  for name in api scheduler volume; do stop "$name"; done
fi
echo "$code" >"$ROOT/code.sha"

started=""
if ! running api; then
  answering && fail "something else answers on $URL"
  nohup "$VENV/bin/python" "$here/cinder/serve.py" "$CONF" "$ROOT/logs/api.log" "$PORT" \
    >"$ROOT/logs/api-stdout.log" 2>&1 &
  echo $! >"$ROOT/api.pid"
  started="$started api"
fi
for name in scheduler volume; do
  if ! running "$name"; then
    nohup "$VENV/bin/cinder-$name" --config-file "$CONF" --log-file "$ROOT/logs/$name.log" \
      >"$ROOT/logs/$name-stdout.log" 2>&1 &
    echo $! >"$ROOT/$name.pid"
    started="$started $name"
  fi
done
[ -n "$started" ] && echo "==> started Cinder:$started on $URL (logs: $ROOT/logs)"
for _ in $(seq 1 240); do ready >/dev/null && exit 0; sleep 0.5; done
fail "Cinder is not ready: $(ready)"
