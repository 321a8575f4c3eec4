"""Healing on two test hosts (tests/hosts.py: a network namespace and a Docker engine each,
an agent in each, of a rabbitmq deployment): host 1 goes down (its agent killed, its engine
stopped); after `[api] service_down_time` its containers are Unknown, and after `[scheduler]
heal_after` the one with restart policy `always` runs again on host 2 while the one with `no`
stays Unknown. When host 1 comes back, its agent removes the old copy (which its engine
restarted) before reporting anything, and the view stays Running on host 2."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.hosts import Host, start_hosts, stop_engine
from tests.integration.conftest import Api, Deployment, configure, docker_containers, wait_for
from tests.integration.many_hosts import across, engine, start_agent

pytestmark = [pytest.mark.docker, pytest.mark.rabbitmq, pytest.mark.cassandra]
DOWN_AFTER = 3  # [api] service_down_time, seconds
HEAL_AFTER = 2  # [scheduler] heal_after, seconds
ALWAYS = {"Name": "always"}


@pytest.fixture
def cluster(hosts: list[Host], tmp_path: Path,
            docker_client: docker.DockerClient) -> Iterator[Deployment]:
    """A processor and an API, and an agent in each host (none on the machine's own engine:
    a healed container has host 2 to go to, and only it)."""
    server = Deployment(tmp_path, "rabbitmq")
    configure(server, "api", f"service_down_time = {DOWN_AFTER}\n")
    configure(server, "agent", "report_interval = 0.5\n")
    configure(server, "scheduler", f"heal_after = {HEAL_AFTER}\n")
    with across(server, hosts, docker_client, machine_agent=False) as running:
        yield running


def copies(host: Host, uuid: str) -> list[Any]:
    with engine(host) as client:
        return docker_containers(client, uuid)


def test_a_container_with_a_restart_policy_is_healed_on_another_host_and_fenced_on_the_old(
        hosts: list[Host], cluster: Deployment) -> None:
    old, new = hosts
    api = Api(cluster.url)
    healed = api.create(name="healed", host=old.name, restart_policy=ALWAYS)["uuid"]
    stays = api.create(name="stays", host=old.name)["uuid"]
    for uuid in (healed, stays):
        assert api.wait_status(uuid, "Running", 60)["host"] == old.name

    # host 1 goes down: its agent killed, its engine stopped (its containers with it)
    cluster.kill9_role(old.name)
    stop_engine(old)
    shown = api.wait_status(healed, "Running", DOWN_AFTER + HEAL_AFTER + 60)
    assert shown["host"] == new.name
    (copy,) = copies(new, healed)
    assert (copy.status, copy.labels["higgins.generation"]) == ("running", "1")
    left = api.show(stays)
    assert left is not None and left["status"] == "Unknown"
    assert copies(new, stays) == []

    # host 1 back, the old copy still in its engine: its agent removes it before anything
    start_hosts(2)
    start_agent(cluster, old)
    wait_for(lambda: copies(old, healed) == [], 60, "the old copy removed from host 1")
    api.wait_status(stays, "Stopped", 60)  # reconciled: its engine stopped it
    time.sleep(2)  # late reports of host 1 would land by now
    after = api.show(healed)
    assert after is not None
    assert (after["status"], after["host"]) == ("Running", new.name)
    assert [c.status for c in copies(new, healed)] == ["running"]
