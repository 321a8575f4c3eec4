#!/usr/bin/env bash
# Install what Higgins needs, idempotently: Debian packages (Docker engine, busybox-static, wrk)
# and a Python venv at .venv with the pinned dependencies and Higgins itself (editable).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v dockerd >/dev/null 2>&1 || need_apt+=(docker.io)
dpkg -s busybox-static >/dev/null 2>&1 || need_apt+=(busybox-static)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)  # HTTP load for `higgins bench api`
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python -m uv --version >/dev/null 2>&1; then
  .venv/bin/pip install -q uv==0.13.9
fi
stamp=.venv/.installed-$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "==> installing pinned Python dependencies into .venv"
  .venv/bin/python -m uv pip install -q --python .venv/bin/python -r requirements.lock
  .venv/bin/python -m uv pip install -q --python .venv/bin/python --no-deps -e .
  rm -f .venv/.installed-*
  touch "$stamp"
fi
