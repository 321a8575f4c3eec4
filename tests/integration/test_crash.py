"""kill -9 at awkward moments: nothing acknowledged is lost, no Docker container is made twice."""

from __future__ import annotations

import collections
import subprocess
import sys
import threading
import time

import docker
import pytest
import requests

from tests.integration.conftest import Api, Higgins

pytestmark = pytest.mark.docker


def _host_containers(client: docker.DockerClient, host: str) -> collections.Counter[str]:
    found = client.containers.list(all=True, filters={"label": f"higgins.host={host}"})
    return collections.Counter(c.labels["higgins.uuid"] for c in found)


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.15, 0.4], ids=lambda d: f"kill-after-{d}s")
def test_kill9_mid_create_then_restart_runs_each_container_exactly_once(
        fresh_higgins: Higgins, docker_client: docker.DockerClient, delay: float) -> None:
    fresh_higgins.start()
    api = Api(fresh_higgins.url)
    uuids = [api.create(name=f"crash-{i}")["uuid"] for i in range(4)]
    time.sleep(delay)
    fresh_higgins.kill9()
    fresh_higgins.start()
    for uuid in uuids:
        api.wait_status(uuid, "Running", timeout=60)
    assert _host_containers(docker_client, fresh_higgins.host) == {u: 1 for u in uuids}


def test_kill9_while_requests_arrive_keeps_every_acknowledged_create(
        fresh_higgins: Higgins, docker_client: docker.DockerClient) -> None:
    fresh_higgins.start()
    api = Api(fresh_higgins.url)
    acknowledged: list[str] = []
    stop = threading.Event()

    def send() -> None:
        for i in range(40):
            if stop.is_set():
                return
            try:
                acknowledged.append(api.create(name=f"flood-{i}")["uuid"])
            except (requests.RequestException, AssertionError):
                return  # the server died under this request: not acknowledged

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(0.3)
    fresh_higgins.kill9()
    stop.set()
    sender.join(30)
    assert acknowledged, "the kill came before any create was acknowledged"
    fresh_higgins.start()
    for uuid in acknowledged:
        api.wait_status(uuid, "Running", timeout=90)
    made = _host_containers(docker_client, fresh_higgins.host)
    assert set(acknowledged) <= set(made)
    assert all(count == 1 for count in made.values()), made


def test_a_second_higgins_on_the_same_state_refuses_to_start(fresh_higgins: Higgins) -> None:
    fresh_higgins.start()
    second = subprocess.run(
        [sys.executable, "-m", "higgins.cli", "--config-file", str(fresh_higgins.config), "up"],
        capture_output=True, text=True, timeout=60)
    assert second.returncode == 1
    assert "already running" in second.stderr


def test_kill9_right_after_deletes_are_acknowledged_then_restart_removes_them_all(
        fresh_higgins: Higgins, docker_client: docker.DockerClient) -> None:
    fresh_higgins.start()
    api = Api(fresh_higgins.url)
    uuids = [api.create(name=f"doomed-{i}")["uuid"] for i in range(4)]
    for uuid in uuids:
        api.wait_status(uuid, "Running")
    for uuid in uuids:
        assert api.call("DELETE", f"/v1/containers/{uuid}?force=True").status_code == 204
    fresh_higgins.kill9()
    fresh_higgins.start()
    for uuid in uuids:
        api.wait_gone(uuid, timeout=60)
    assert _host_containers(docker_client, fresh_higgins.host) == {}
