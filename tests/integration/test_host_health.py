"""A host whose agent stops reporting (frozen, or killed) on the production backend: after
`[api] service_down_time` its service is down and its containers Unknown with the reason;
when the agent reports again it reconciles and they return to what Docker really shows
(Running for the one that kept running, Stopped for one stopped behind its back meanwhile)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.integration.conftest import (
    Api,
    Deployment,
    configure,
    docker_containers,
    remove_host_containers,
    wait_for,
)

pytestmark = [pytest.mark.rabbitmq, pytest.mark.cassandra, pytest.mark.docker]
DOWN_AFTER = 3  # [api] service_down_time, seconds


@pytest.fixture
def cluster(tmp_path: Path, docker_client: docker.DockerClient) -> Iterator[Deployment]:
    deployment = Deployment(tmp_path, "rabbitmq")
    configure(deployment, "api", f"service_down_time = {DOWN_AFTER}\n")
    configure(deployment, "agent", "report_interval = 0.5\n")
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.close()
        remove_host_containers(docker_client, deployment.host)


def _service_state(api: Api, host: str) -> str:
    services = api.call("GET", "/v1/services").json()["services"]
    return str(next(s["state"] for s in services if s["host"] == host))


def _unknown_because_silent(api: Api, uuid: str, host: str) -> None:
    shown = api.wait_status(uuid, "Unknown", timeout=DOWN_AFTER + 30)
    assert f"host {host} stopped reporting" in shown["status_reason"]


def test_a_silent_host_makes_its_containers_unknown_until_its_agent_reconciles(
        cluster: Deployment, docker_client: docker.DockerClient) -> None:
    api = Api(cluster.url)
    kept = api.create(name="kept")["uuid"]
    stopped = api.create(name="stopped")["uuid"]
    for uuid in (kept, stopped):
        api.wait_status(uuid, "Running", timeout=60)

    # frozen: the agent's process stops, its containers keep running
    agent = cluster.processes["agent"]
    agent.send_signal(signal.SIGSTOP)
    try:
        for uuid in (kept, stopped):
            _unknown_because_silent(api, uuid, cluster.host)
        assert _service_state(api, cluster.host) == "down"
    finally:
        agent.send_signal(signal.SIGCONT)
    for uuid in (kept, stopped):
        api.wait_status(uuid, "Running", timeout=30)
    wait_for(lambda: _service_state(api, cluster.host) == "up", 30, "the service up again")

    # killed: meanwhile one container is stopped behind Higgins' back
    cluster.kill9_role("agent")
    for uuid in (kept, stopped):
        _unknown_because_silent(api, uuid, cluster.host)
    (container,) = docker_containers(docker_client, stopped)
    container.stop(timeout=1)
    cluster.start_role("agent")
    api.wait_status(kept, "Running", timeout=60)
    api.wait_status(stopped, "Stopped", timeout=60)
    assert [c.status for c in docker_containers(docker_client, kept)] == ["running"]
