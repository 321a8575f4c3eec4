"""Test hosts on one machine (scripts/start-hosts.sh through tests/hosts.py): each host's Docker
engine runs in the host's own network namespace, the machine reaches each host over its veth,
and a create for a requested host lands in that host's engine, placed by a rabbitmq deployment
whose extra agents run inside the host namespaces."""

from __future__ import annotations

import ipaddress
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.hosts import BRIDGE_ADDRESS, Host, run_in
from tests.integration.conftest import Api, Deployment, docker_containers
from tests.integration.many_hosts import across, engine

pytestmark = pytest.mark.docker
HOSTS = [0, 1]
HOST_IDS = ["host-1", "host-2"]


def addresses(ip_output: str) -> set[str]:
    """The IPv4 addresses in `ip -4 -o addr` output."""
    return set(re.findall(r"inet (\S+)/", ip_output))


@pytest.mark.parametrize("index", HOSTS, ids=HOST_IDS)
def test_a_host_network_container_sees_its_hosts_address_not_the_machines(
        hosts: list[Host], index: int) -> None:
    host = hosts[index]
    machine = addresses(subprocess.run(["ip", "-4", "-o", "addr"], check=True,
                                       capture_output=True, text=True).stdout)
    with engine(host) as client:
        seen = addresses(client.containers.run(
            "busybox:local", ["ip", "-4", "-o", "addr"], network_mode="host",
            remove=True).decode())
    assert host.address in seen
    assert not seen & (machine - {"127.0.0.1"})


def test_each_hosts_docker_bridge_is_its_own(hosts: list[Host],
                                            docker_client: docker.DockerClient) -> None:
    subnets = [_bridge_subnet(docker_client)]
    for host in hosts:
        with engine(host) as client:
            subnet = _bridge_subnet(client)
            seen = addresses(client.containers.run(
                "busybox:local", ["ip", "-4", "-o", "addr", "show", "eth0"],
                remove=True).decode())
        assert [ipaddress.ip_address(a) in subnet for a in seen] == [True]
        subnets.append(subnet)
    assert not any(a.overlaps(b) for i, a in enumerate(subnets) for b in subnets[i + 1:])


def _bridge_subnet(client: docker.DockerClient) -> ipaddress.IPv4Network:
    config = client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    return ipaddress.IPv4Network(config["Subnet"])


LISTENER = ("import socket, sys\n"
            "server = socket.create_server((sys.argv[1], 7070))\n"
            "print('listening', flush=True)\n"
            "client, peer = server.accept()\n"
            "client.sendall(peer[0].encode())\n")


@pytest.mark.parametrize("index", HOSTS, ids=HOST_IDS)
def test_the_machine_reaches_a_listener_in_the_host_over_the_veth(
        hosts: list[Host], index: int) -> None:
    host = hosts[index]
    with run_in(host, [sys.executable, "-c", LISTENER, host.address],
                stdout=subprocess.PIPE) as listener:
        try:
            assert listener.stdout is not None
            assert listener.stdout.readline() == b"listening\n"
            with socket.create_connection((host.address, 7070), timeout=5) as connection:
                assert connection.recv(100) == BRIDGE_ADDRESS.encode()  # the machine's end
            assert listener.wait(10) == 0
        finally:
            listener.kill()  # a no-op once it exited


# -- end to end: a rabbitmq deployment with an agent in each host's namespace -----------------

@pytest.fixture
def deployment(hosts: list[Host], tmp_path: Path,
               docker_client: docker.DockerClient) -> Iterator[Deployment]:
    with across(Deployment(tmp_path, "rabbitmq"), hosts, docker_client) as server:
        yield server


@pytest.mark.rabbitmq
@pytest.mark.cassandra
def test_a_create_for_a_requested_host_lands_in_that_hosts_engine(
        hosts: list[Host], deployment: Deployment, docker_client: docker.DockerClient) -> None:
    chosen, other = hosts[1], hosts[0]
    api = Api(deployment.url)
    uuid = api.create(host=chosen.name, command=["sh", "-c", "ip -4 -o addr show eth0; "
                                                             "sleep 300"])["uuid"]
    shown = api.wait_status(uuid, "Running", 60)
    assert shown["host"] == chosen.name
    with engine(chosen) as client:
        assert len(docker_containers(client, uuid)) == 1
        subnet = _bridge_subnet(client)
    with engine(other) as client:
        assert docker_containers(client, uuid) == []
    assert docker_containers(docker_client, uuid) == []
    # the API reaches the agent in the namespace for the logs: the host's docker bridge
    logs = api.call("GET", f"/v1/containers/{uuid}/logs").json()
    assert [ipaddress.ip_address(a) in subnet for a in addresses(logs)] == [True]
