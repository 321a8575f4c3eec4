"""Placement across real engines (scripts/start-hosts.sh: two test hosts, each with its own
Docker engine in its own network namespace, and an agent there of a rabbitmq deployment): spread
and pack, affinity and anti-affinity (`same_host` / `different_host` hints), a host drained by
disabling its service, and a host's agent killed and restarted while creates stream in. The
test hosts report the availability zone `multi` and the creates ask for it, so the deployment's
own host (the machine's engine) takes none of them. (Concurrent creates that would over-commit a
host: test_placement.py; a host killed and its containers healed elsewhere: test_healing.py.)"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.hosts import Host
from tests.integration.conftest import Api, Deployment, configure, docker_containers, wait_for
from tests.integration.many_hosts import across, engine, start_agent

pytestmark = [pytest.mark.docker, pytest.mark.rabbitmq, pytest.mark.cassandra]
ZONE = "multi"
ASKED_MB = 64
IN_ZONE = f"availability_zone = {ZONE}\n"  # the test hosts' agents


@pytest.fixture
def cluster(request: pytest.FixtureRequest, hosts: list[Host], tmp_path: Path,
            docker_client: docker.DockerClient) -> Iterator[Deployment]:
    server = Deployment(tmp_path, "rabbitmq")
    configure(server, "scheduler", f"strategy = {request.param}\n")  # spread or pack
    with across(server, hosts, docker_client, agent=IN_ZONE) as running:
        yield running


def placed(api: Api, run: bool = False, **body: Any) -> dict[str, Any]:
    """A create in the test hosts' zone, once it settled (Created, Running or Error)."""
    uuid = api.create(run=run, availability_zone=ZONE, memory=ASKED_MB, **body)["uuid"]

    def settled() -> dict[str, Any] | None:
        shown = api.show(uuid)
        done = shown and shown["status"] in ("Created", "Running", "Error") \
            and not shown["task_state"]
        return shown if done else None

    return wait_for(settled, 60, f"{uuid} placed")



@pytest.mark.parametrize("cluster", ["spread"], indirect=True)
def test_spread_alternates_between_equal_hosts(cluster: Deployment, hosts: list[Host]) -> None:
    api = Api(cluster.url)
    shown = [placed(api) for _ in range(4)]
    assert [c["host"] for c in shown] == [h.name for h in hosts] * 2


@pytest.mark.parametrize("cluster", ["pack"], indirect=True)
def test_pack_fills_one_host_first(cluster: Deployment, hosts: list[Host]) -> None:
    api = Api(cluster.url)
    shown = [placed(api) for _ in range(4)]
    assert [c["host"] for c in shown] == [hosts[0].name] * 4


@pytest.mark.parametrize("cluster", ["pack"], indirect=True)
def test_same_host_and_different_host_hints(cluster: Deployment, hosts: list[Host]) -> None:
    api = Api(cluster.url)
    first = placed(api)
    beside = placed(api, hints={"same_host": first["uuid"]})
    apart = placed(api, hints={"different_host": first["uuid"]})
    assert beside["host"] == first["host"]
    assert apart["host"] != first["host"] and apart["host"] in {h.name for h in hosts}
    both = placed(api, hints={"same_host": first["uuid"], "different_host": first["uuid"]})
    assert both["status"] == "Error" and "No valid host was found" in both["status_reason"]


@pytest.mark.parametrize("cluster", ["spread"], indirect=True)
def test_a_disabled_host_is_drained_of_new_containers(cluster: Deployment,
                                                      hosts: list[Host]) -> None:
    api = Api(cluster.url)
    drained, open_host = hosts
    switch = f"/v1/services/disable?host={drained.name}&binary=zun-compute" \
             "&disabled_reason=maintenance"
    assert api.call("PUT", switch).status_code == 200
    assert {placed(api)["host"] for _ in range(3)} == {open_host.name}
    assert api.call("PUT", f"/v1/services/enable?host={drained.name}&binary=zun-compute"
                    ).status_code == 200
    wait_for(lambda: placed(api)["host"] == drained.name, 60, "the enabled host used again")


@pytest.mark.parametrize("cluster", ["spread"], indirect=True)
def test_an_agent_killed_and_restarted_under_load_loses_no_create(
        cluster: Deployment, hosts: list[Host]) -> None:
    api = Api(cluster.url)
    victim = hosts[0]
    uuids: list[str] = []
    three = threading.Semaphore(0)

    def stream() -> None:
        for _ in range(8):
            uuids.append(api.create(availability_zone=ZONE, memory=ASKED_MB)["uuid"])
            three.release()

    client = threading.Thread(target=stream)
    client.start()
    for _ in range(3):
        assert three.acquire(timeout=60)
    cluster.kill9_role(victim.name)
    start_agent(cluster, victim, IN_ZONE)
    client.join(120)
    assert not client.is_alive() and len(uuids) == 8
    on: dict[str, list[str]] = {h.name: [] for h in hosts}
    for uuid in uuids:
        on[api.wait_status(uuid, "Running", 90)["host"]].append(uuid)
    assert all(on.values()), on  # both hosts took some (spread)
    for host in hosts:
        with engine(host) as engine_client:
            for uuid in on[host.name]:
                assert len(docker_containers(engine_client, uuid)) == 1, (host.name, uuid)
