"""Exit 0 when the Cinder of scripts/start-cinder.sh can take a volume: cinder-api answers,
cinder-scheduler and cinder-volume report up, and the scheduler knows the backend's pool (the
volume service's driver is initialized and its stats reached the scheduler over RPC).
Otherwise print what is missing and exit 1.
Usage: ready.py CINDER_URL KEYSTONE_URL ADMIN_PASSWORD POOL. Stdlib only: it runs every half
second while Cinder starts."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import Any


def admin_token(keystone: str, password: str) -> str:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    request = urllib.request.Request(f"{keystone}/v3/auth/tokens", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.headers["X-Subject-Token"])


def get(url: str, token: str) -> Any:
    request = urllib.request.Request(url, headers={"X-Auth-Token": token})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def missing(cinder: str, keystone: str, password: str, pool: str) -> str:
    """What keeps Cinder from taking a volume, or '' when nothing does."""
    try:
        token = admin_token(keystone, password)
        services = get(f"{cinder}/v3/os-services", token)["services"]
        pools = get(f"{cinder}/v3/scheduler-stats/get_pools", token)["pools"]
    except (OSError, urllib.error.URLError, KeyError, ValueError) as error:
        return f"cinder-api: {error}"
    up = {service["binary"] for service in services if service["state"] == "up"}
    absent = [binary for binary in ("cinder-scheduler", "cinder-volume") if binary not in up]
    if absent:
        return f"not reporting up: {', '.join(absent)}"
    if pool not in {entry["name"] for entry in pools}:
        return f"the scheduler does not know pool {pool} yet"
    return ""


if __name__ == "__main__":
    reason = missing(*sys.argv[1:5])
    if reason:
        print(reason)
    sys.exit(1 if reason else 0)
