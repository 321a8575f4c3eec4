#!/usr/bin/env bash
# Neutron (PyPI, pinned in scripts/neutron/requirements.lock) in its own venv with ML2 and Higgins'
# mechanism driver (scripts/neutron/higgins_neutron: Linux bridge + VXLAN, no Open vSwitch): the
# API (neutron.wsgi.api under scripts/neutron/serve.py, one process) on 127.0.0.1:9696 and
# neutron-rpc-server (one RPC worker) on RabbitMQ vhost `neutron`; MariaDB database `neutron`;
# catalog entry `neutron` (type network) and service user `neutron` in Keystone. No L3, DHCP or
# metadata agent (docs/neutron.md). Idempotent: installs once, upgrades the schema once per lock,
# starts what does not run, restarts both when the driver, serve.py or the config changed, waits
# until the API answers and the RPC server consumes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ROOT=${HIGGINS_NEUTRON_ROOT:-/var/lib/higgins-neutron}
PORT=9696
URL=http://127.0.0.1:$PORT
KEYSTONE=${HIGGINS_KEYSTONE_URL:-http://127.0.0.1:5000}
KEYSTONE_ADMIN_PASSWORD=${HIGGINS_KEYSTONE_ADMIN_PASSWORD:-admin-secret}
DB_PASSWORD=${HIGGINS_NEUTRON_DB_PASSWORD:-neutron-db-secret}
VENV=$ROOT/venv
PACKAGE=$here/neutron/higgins_neutron
export RABBITMQ_NODENAME=higgins@localhost
export PYTHONWARNINGS=ignore::DeprecationWarning

answering() { curl -fsS -o /dev/null "$URL/" 2>/dev/null; }
alive() { [ -f "$ROOT/$1.pid" ] && kill -0 "$(cat "$ROOT/$1.pid")" 2>/dev/null; }
# the RPC server consumes the plugin topic the (absent) agents would call
consuming() {
  rabbitmqctl -q -p neutron list_queues name consumers 2>/dev/null |
    awk '$1 == "q-plugin" && $2 > 0 {found = 1} END {exit !found}'
}
stop() {  # stop NAME: the process this script started, by its recorded pid
  alive "$1" || return 0
  kill "$(cat "$ROOT/$1.pid")"
  for _ in $(seq 1 40); do alive "$1" || break; sleep 0.25; done
}
fail() { tail -20 "$ROOT/logs/$1" >&2; echo "$2" >&2; exit 1; }

curl -fsS -o /dev/null "$KEYSTONE/v3" ||
  { echo "Keystone does not answer at $KEYSTONE (scripts/start-keystone.sh)" >&2; exit 1; }
mkdir -p "$ROOT/logs" "$ROOT/state" "$ROOT/lock"
"$here/start-mariadb.sh" neutron neutron "$DB_PASSWORD"
"$here/start-rabbitmq.sh"
"$here/rabbitmq-vhost.sh" neutron
"$here/pinned-venv.sh" "$VENV" "$here/neutron/requirements.lock"

# Our driver goes on top of the pinned venv, again whenever its sources change.
package_sum=$(cd "$PACKAGE" && find . -name '*.py' -o -name pyproject.toml | sort |
  xargs sha256sum | sha256sum | cut -c1-16)
if [ ! -f "$VENV/.higgins-neutron-$package_sum" ]; then
  echo "==> installing higgins-neutron (the ML2 driver) into $VENV"
  build=$(mktemp -d)  # setuptools builds in the source directory: keep the tree clean
  cp -r "$PACKAGE" "$build/"
  "$VENV/bin/python" -m uv pip install -q --python "$VENV/bin/python" --no-deps \
    --reinstall-package higgins-neutron "$build/higgins_neutron"
  rm -rf "$build"
  rm -f "$VENV"/.higgins-neutron-*
  touch "$VENV/.higgins-neutron-$package_sum"
fi

for file in neutron.conf ml2_conf.ini; do
  sed -e "s#@ROOT@#$ROOT#g" -e "s#@DB_PASSWORD@#$DB_PASSWORD#g" -e "s#@KEYSTONE@#$KEYSTONE#g" \
    "$here/neutron/$file.in" >"$ROOT/$file"
done
cp "$VENV/etc/neutron/api-paste.ini" "$ROOT/api-paste.ini"
config=(--config-file "$ROOT/neutron.conf" --config-file "$ROOT/ml2_conf.ini")

schema=$ROOT/.schema-$(sha256sum "$here/neutron/requirements.lock" | cut -c1-16)
if [ ! -f "$schema" ]; then
  echo "==> neutron-db-manage upgrade heads (MariaDB database neutron)"
  "$VENV/bin/neutron-db-manage" "${config[@]}" upgrade heads >"$ROOT/logs/db-manage.log" 2>&1 ||
    fail db-manage.log "neutron-db-manage upgrade heads failed"
  rm -f "$ROOT"/.schema-*
  touch "$schema"
fi

# Processes started from other code or config are restarted (running.sha records which).
code=$(cat "$here/neutron/serve.py" "$ROOT/neutron.conf" "$ROOT/ml2_conf.ini" |
  sha256sum | cut -c1-16)-$package_sum
if [ "$(cat "$ROOT/running.sha" 2>/dev/null)" != "$code" ] && { alive api || alive rpc; }; then
  echo "==> restarting Neutron (driver, serve.py or config changed)"
  stop api
  stop rpc
fi
echo "$code" >"$ROOT/running.sha"

if ! alive rpc; then
  echo "==> starting neutron-rpc-server (logs: $ROOT/logs)"
  nohup "$VENV/bin/neutron-rpc-server" "${config[@]}" --log-file "$ROOT/logs/neutron-rpc.log" \
    >"$ROOT/logs/rpc-stdout.log" 2>&1 &
  echo $! >"$ROOT/rpc.pid"
fi
if ! answering && ! alive api; then
  echo "==> starting Neutron API on $URL (logs: $ROOT/logs)"
  nohup "$VENV/bin/python" "$here/neutron/serve.py" "$ROOT" "$PORT" "$ROOT/logs/neutron-api.log" \
    >"$ROOT/logs/api-stdout.log" 2>&1 &
  echo $! >"$ROOT/api.pid"
fi
# The catalog entry and service user, while the processes boot.
"$VENV/bin/python" "$here/keystone/bootstrap.py" "$KEYSTONE" "$KEYSTONE_ADMIN_PASSWORD" \
  --service neutron network "$URL" neutron
for _ in $(seq 1 240); do answering && break; alive api || break; sleep 0.25; done
answering || fail neutron-api.log "Neutron API did not answer on $URL"
for _ in $(seq 1 120); do consuming && break; alive rpc || break; sleep 0.5; done
consuming || fail neutron-rpc.log "neutron-rpc-server does not consume q-plugin on vhost neutron"
