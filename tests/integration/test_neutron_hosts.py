"""Neutron networks across hosts: two test hosts of scripts/start-hosts.sh (each a network
namespace with its own Docker engine and a rabbitmq deployment's agent), one container on each
on the same VXLAN network of the real Neutron; they reach each other over the VXLAN devices the
agents made (local end each host's tunnel address, flooding to the other host's), across the
bridge between the hosts. The agents reach Keystone and Neutron through the relay on the bridge
([neutron] endpoint_override: the catalog's 127.0.0.1 is the namespace's own)."""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.hosts import BRIDGE_ADDRESS, Host
from tests.integration.conftest import Api, Deployment
from tests.integration.many_hosts import across
from tests.integration.openstack_cloud import connect, delete, execute, services
from tests.integration.test_keystone import AUTHTOKEN, token

pytestmark = [pytest.mark.neutron, pytest.mark.keystone, pytest.mark.docker,
              pytest.mark.rabbitmq, pytest.mark.cassandra]

NEUTRON = services("neutron")
# the agents in the hosts' namespaces reach Keystone and Neutron through the relay
THROUGH_RELAY = (f"[openstack]\nauth_url = http://{BRIDGE_ADDRESS}:5000/v3\n"
                 f"[neutron]\nendpoint_override = http://{BRIDGE_ADDRESS}:9696\n")
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait"]


@pytest.fixture
def cluster(hosts: list[Host], tmp_path: Path,
            docker_client: docker.DockerClient) -> Iterator[Deployment]:
    server = Deployment(tmp_path, "rabbitmq")
    server.config.write_text(server.config.read_text() + AUTHTOKEN + NEUTRON)
    server.auth_headers = {"X-Auth-Token": token("demo_admin", "demo")[0]}
    with across(server, hosts, docker_client, machine_agent=False, agent=THROUGH_RELAY,
                relayed=(5000, 9696)) as running:
        yield running


@pytest.fixture
def network() -> Iterator[Any]:
    demo = connect("demo_member", "demo")
    net = demo.network.create_network(name=f"higgins-test-{uuidlib.uuid4().hex[:6]}")
    demo.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.95.0.0/24")
    yield net
    admin = connect("admin", "admin", "admin-secret")
    for port in admin.network.ports(network_id=net.id):
        admin.network.delete_port(port.id, ignore_missing=True)
    admin.network.delete_network(net.id, ignore_missing=True)
    admin.close()
    demo.close()


def test_containers_on_two_hosts_reach_each_other_over_vxlan(
        cluster: Deployment, hosts: list[Host], network: Any) -> None:
    api = Api(cluster.url, cluster.auth_headers)  # an admin of demo: it may name the host
    made = [api.create(command=SLEEPER, host=host.name, nets=[{"network": network.id}])
            for host in hosts]
    running = [api.wait_status(m["uuid"], "Running", timeout=90) for m in made]
    assert [c["host"] for c in running] == [h.name for h in hosts]
    target = next(a["addr"] for a in running[1]["addresses"][network.id] if a["version"] == 4)
    pinged = execute(api, running[0]["uuid"], f"ping -c 1 -W 3 {target}")
    assert pinged["exit_code"] == 0, pinged
    for container in running:
        delete(api, container["uuid"])
