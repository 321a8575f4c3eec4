#!/usr/bin/env bash
# Heat (PyPI openstack-heat, pinned in scripts/heat/requirements.lock with python-zunclient 5.5.0)
# in its own venv: heat-api on 127.0.0.1:8004 (scripts/heat/serve.py) and one heat-engine, RPC on
# RabbitMQ vhost `heat`, database `heat` on the MariaDB of scripts/start-mariadb.sh (on SQLite the
# engine's concurrent threads fail stack updates with "database is locked"), service user `heat`
# and the `orchestration` catalog entry in the Keystone of scripts/start-keystone.sh.
# Idempotent: installs once, db-syncs once, starts each process when it is not running, waits
# until heat-api answers and the engine has reported itself up.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ROOT=${HIGGINS_HEAT_ROOT:-/var/lib/higgins-heat}
PORT=8004
URL=http://127.0.0.1:$PORT
KEYSTONE=http://127.0.0.1:5000
VENV=$ROOT/venv
CONF=$ROOT/heat.conf
LOGS=$ROOT/logs
DB_PASSWORD=secret
answering() { curl -fsS -o /dev/null "$URL/healthcheck" 2>/dev/null; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
# engine_up SINCE: an engine of this host reported to the database after SINCE (UTC); it reports
# on start and every 60 s (heat-manage service list says the same, in seconds rather than ms)
engine_up() {
  [ "$(mariadb -h127.0.0.1 -uheat -p"$DB_PASSWORD" heat -N -e "SELECT COUNT(*) FROM service
    WHERE host = 'higgins-heat' AND deleted_at IS NULL
    AND COALESCE(updated_at, created_at) > GREATEST('$1', UTC_TIMESTAMP() - INTERVAL 90 SECOND)" \
    2>/dev/null)" != 0 ]
}

mkdir -p "$LOGS" "$ROOT/locks"
"$here/pinned-venv.sh" "$VENV" "$here/heat/requirements.lock"
sed -e "s#@ROOT@#$ROOT#g" -e "s#@VENV@#$VENV#g" \
  -e "s#@DATABASE@#mysql+pymysql://heat:$DB_PASSWORD@127.0.0.1/heat?charset=utf8mb4#g" \
  "$here/heat/heat.conf.in" >"$CONF"
export PYTHONWARNINGS=ignore::DeprecationWarning

"$here/rabbitmq-vhost.sh" heat
"$here/start-mariadb.sh" heat heat "$DB_PASSWORD"
if [ ! -f "$ROOT/.db-synced-mariadb" ]; then
  echo "==> heat-manage db_sync (MariaDB database heat)"
  "$VENV/bin/heat-manage" --config-file "$CONF" db_sync >"$LOGS/db_sync.log" 2>&1 \
    || { tail -20 "$LOGS/db_sync.log" >&2; exit 1; }
  touch "$ROOT/.db-synced-mariadb"
fi
"$VENV/bin/python" "$here/keystone/bootstrap.py" "$KEYSTONE" \
  "${HIGGINS_KEYSTONE_ADMIN_PASSWORD:-admin-secret}" \
  --service heat orchestration "$URL/v1/%(tenant_id)s" heat

# Processes started from another configuration or serve.py are restarted. Each runs in a process
# group of its own (setsid), so the engine's worker goes with it.
stop() {
  alive "$1" || return 0
  echo "==> restarting $(basename "$1" .pid) (configuration changed)"
  kill -TERM -- "-$(cat "$1")" 2>/dev/null || kill -TERM "$(cat "$1")" 2>/dev/null || true
  for _ in $(seq 1 60); do alive "$1" || return 0; sleep 0.5; done
  kill -KILL -- "-$(cat "$1")" 2>/dev/null || kill -KILL "$(cat "$1")" 2>/dev/null || true
}
code=$(cat "$CONF" "$here/heat/serve.py" | sha256sum | cut -c1-16)
if [ "$(cat "$ROOT/code.sha" 2>/dev/null)" != "$code" ]; then
  stop "$ROOT/api.pid"
  stop "$ROOT/engine.pid"
  echo "$code" >"$ROOT/code.sha"
fi

since=1970-01-01
if ! alive "$ROOT/engine.pid"; then
  since=$(date -u '+%F %T')
  echo "==> starting heat-engine (1 worker; logs: $LOGS)"
  setsid nohup "$VENV/bin/heat-engine" --config-file "$CONF" --log-file "$LOGS/heat-engine.log" \
    >"$LOGS/heat-engine.stdout" 2>&1 &
  echo $! >"$ROOT/engine.pid"
fi
if ! answering; then
  echo "==> starting heat-api on $URL (logs: $LOGS)"
  setsid nohup "$VENV/bin/python" "$here/heat/serve.py" "$CONF" "$PORT" "$LOGS/heat-api.log" \
    >"$LOGS/heat-api.stdout" 2>&1 &
  echo $! >"$ROOT/api.pid"
  for _ in $(seq 1 120); do answering && break; sleep 0.5; done
  answering || { tail -n 20 "$LOGS/heat-api.stdout" "$LOGS/heat-api.log" >&2
                 echo "heat-api did not answer" >&2; exit 1; }
fi
for _ in $(seq 1 30); do
  engine_up "$since" && exit 0
  alive "$ROOT/engine.pid" || break
  sleep 1
done
tail -n 20 "$LOGS/heat-engine.stdout" "$LOGS/heat-engine.log" >&2
echo "heat-engine did not report up" >&2
exit 1
