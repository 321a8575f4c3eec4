"""Horizon with zun-ui, unchanged, in a real browser: the Horizon and headless Chromium of
scripts/start-horizon.sh, logged in through the Keystone of scripts/start-keystone.sh, against
a Higgins in a catalog region of its own. The browser part (Selenium) runs in Horizon's venv
(scripts/horizon/walkthrough.py); its screenshots land in artifacts/horizon/."""

from __future__ import annotations

import json
import os
import subprocess
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import requests

from tests.integration.conftest import Api, Higgins, docker_containers, wait_for
from tests.integration.test_clients import Catalog, keystone_cloud

pytestmark = [pytest.mark.horizon, pytest.mark.keystone, pytest.mark.docker]

HORIZON = "http://127.0.0.1:8080"
VENV = Path(os.environ.get("HIGGINS_HORIZON_VENV", "/var/lib/higgins-horizon/venv"))
REPO = Path(__file__).resolve().parents[2]
WALKTHROUGH = REPO / "scripts" / "horizon" / "walkthrough.py"
SCREENSHOTS = REPO / "artifacts" / "horizon"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory,
          docker_client: docker.DockerClient) -> Iterator[tuple[Higgins, Catalog]]:
    answer = requests.get(f"{HORIZON}/auth/login/", timeout=10)
    assert answer.status_code == 200, "Horizon does not answer: run scripts/start-horizon.sh"
    with keystone_cloud("embedded", tmp_path_factory.mktemp("horizon"), docker_client) as cloud:
        yield cloud


def refusals(server: Higgins) -> set[str]:
    """`METHOD path status` of each call Higgins answered with a 4xx or 5xx (its API log)."""
    found = set()
    for log in server.workdir.glob("*.log"):
        for line in log.read_text().splitlines():
            if not line.startswith("{"):
                continue
            entry = json.loads(line)
            if entry.get("logger") == "higgins.api" and entry.get("status", 0) >= 400:
                found.add(f"{entry['message'].rsplit(' ', 1)[0]} {entry['status']}")
    return found


def test_a_member_launches_reads_and_deletes_a_container_in_horizon(
        cloud: tuple[Higgins, Catalog], docker_client: docker.DockerClient) -> None:
    server, catalog = cloud
    name = f"hz-{uuidlib.uuid4().hex[:6]}"
    line = f"hello from horizon {name}"
    done = subprocess.run(
        [str(VENV / "bin" / "python"), str(WALKTHROUGH), HORIZON, catalog.region, name, line,
         str(SCREENSHOTS)],
        capture_output=True, text=True, timeout=150, check=False)
    assert done.returncode == 0, (f"{done.stderr}\nscreenshots: {SCREENSHOTS}; Higgins' log: "
                                  f"{server.workdir}; Horizon's: /var/lib/higgins-horizon/logs")
    seen = json.loads(done.stdout)
    uuid = seen["uuid"]
    assert seen["status"] == "Running"
    assert line in seen["logs"]
    assert seen["gone"], "the row stayed in the containers table"
    # What zun-ui asked Higgins through Horizon all worked (Horizon's /api/zun/ calls), and
    # Higgins refused nothing but attach (the Console tab's websocket, not implemented: 501).
    assert not [error for error in seen["errors"] if "/api/zun/" in error], seen["errors"]
    assert refusals(server) <= {f"GET /v1/containers/{uuid}/attach 501"}
    admin = Api(server.url, server.auth_headers)
    assert admin.show(f"{uuid}?all_projects=True") is None
    wait_for(lambda: not docker_containers(docker_client, uuid), 30, f"{name} removed")
