#!/usr/bin/env bash
# Horizon (PyPI's horizon with zun-ui, pinned in scripts/horizon/requirements.lock) in its own venv,
# on 127.0.0.1:8080 against the Keystone of scripts/start-keystone.sh, and Debian's chromium and
# chromium-driver for tests/integration/test_horizon.py (Selenium is in the same venv).
# Idempotent: installs once, collects and compresses the static files once per lock and settings,
# starts when nothing answers (restarts when its settings or serve.py changed), waits until the
# login page answers.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ROOT=${HIGGINS_HORIZON_ROOT:-/var/lib/higgins-horizon}
PORT=8080
URL=http://127.0.0.1:$PORT
VENV=$ROOT/venv
answering() { curl -fsS -o /dev/null "$URL/auth/login/" 2>/dev/null; }

# Debian's own builds (the version is the security archive's current one: older ones leave it).
# Without its recommends (udev, upower, a printer dialog, a notification daemon), but with a font.
browser=(chromium chromium-driver fonts-liberation)
if ! dpkg -s "${browser[@]}" >/dev/null 2>&1; then
  echo "==> apt-get install ${browser[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${browser[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${browser[@]}" >/dev/null; }
fi

mkdir -p "$ROOT/logs"
"$here/pinned-venv.sh" "$VENV" "$here/horizon/requirements.lock"
site=$("$VENV/bin/python" -c 'import openstack_dashboard, os; print(os.path.dirname(openstack_dashboard.__file__))')
zun_ui=$("$VENV/bin/python" -c 'import zun_ui, os; print(os.path.dirname(zun_ui.__file__))')
# zun-ui's documented install: its enabled files into Horizon's local/enabled.
cp "$zun_ui"/enabled/_[0-9]*.py "$site/local/enabled/"
sed "s#@ROOT@#$ROOT#g" "$here/horizon/local_settings.py.in" >"$ROOT/local_settings.py"
cmp -s "$ROOT/local_settings.py" "$site/local/local_settings.py" ||
  cp "$ROOT/local_settings.py" "$site/local/local_settings.py"

export DJANGO_SETTINGS_MODULE=openstack_dashboard.settings PYTHONWARNINGS=ignore
static=$(cat "$here/horizon/requirements.lock" "$ROOT/local_settings.py" | sha256sum | cut -c1-16)
if [ "$(cat "$ROOT/static.sha" 2>/dev/null)" != "$static" ]; then
  echo "==> collecting and compressing Horizon's static files into $ROOT/static"
  rm -rf "$ROOT/static"
  "$VENV/bin/django-admin" collectstatic --noinput -v0 >"$ROOT/logs/static.log" 2>&1 &&
    "$VENV/bin/django-admin" compress --force -v0 >>"$ROOT/logs/static.log" 2>&1 ||
    { tail -20 "$ROOT/logs/static.log" >&2; echo "Horizon's static files failed" >&2; exit 1; }
  echo "$static" >"$ROOT/static.sha"
fi

# A Horizon started from older settings or serve.py is restarted (the pid file says which).
code=$(cat "$here/horizon/serve.py" "$ROOT/local_settings.py" "$ROOT/static.sha" | sha256sum | cut -c1-16)
if answering && [ "$(cat "$ROOT/serve.sha" 2>/dev/null)" != "$code" ] && [ -f "$ROOT/horizon.pid" ]; then
  echo "==> restarting Horizon (its settings or serve.py changed)"
  kill "$(cat "$ROOT/horizon.pid")" 2>/dev/null || true
  for _ in $(seq 1 40); do answering || break; sleep 0.25; done
fi

if ! answering; then
  echo "==> starting Horizon on $URL (logs: $ROOT/logs)"
  nohup "$VENV/bin/python" "$here/horizon/serve.py" "$PORT" >"$ROOT/logs/horizon.log" 2>&1 &
  echo $! >"$ROOT/horizon.pid"
  echo "$code" >"$ROOT/serve.sha"
  for _ in $(seq 1 120); do answering && break; sleep 0.5; done
  answering || { tail -20 "$ROOT/logs/horizon.log" >&2; echo "Horizon did not answer" >&2; exit 1; }
fi
