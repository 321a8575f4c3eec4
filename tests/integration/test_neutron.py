"""Containers on Neutron networks, against the real Neutron of scripts/start-neutron.sh (ML2 with
Higgins' `higgins` mechanism driver): a container's port made on the project's network, bound to
its host, plugged into the container's namespace (its fixed IPs, MAC and gateway inside), two
containers talking over the network's bridge, a port the tenant brought taken over and handed
back, the ports' security groups enforced inside the namespace, and what another project may
not use."""

from __future__ import annotations

import contextlib
import uuid as uuidlib
from collections.abc import Callable, Iterator
from typing import Any

import docker
import openstack.connection
import pytest

from tests.integration.conftest import Api, Higgins, wait_for
from tests.integration.openstack_cloud import (
    connect,
    delete,
    execute,
    keystone_higgins,
    member_api,
    services,
)

pytestmark = [pytest.mark.neutron, pytest.mark.keystone, pytest.mark.docker]

# the agent renews security group filters at each report
NEUTRON = services("neutron") + "[agent]\nreport_interval = 2\n"
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait"]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory,
          docker_client: docker.DockerClient) -> Iterator[Higgins]:
    with keystone_higgins("embedded", tmp_path_factory.mktemp("neutron"), docker_client,
                          NEUTRON) as server:
        yield server


@pytest.fixture(scope="module")
def demo() -> Iterator[openstack.connection.Connection]:
    conn = connect("demo_member", "demo")
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def network(demo: openstack.connection.Connection) -> Iterator[Any]:
    """A demo network with an IPv4 subnet (gateway .1) and an IPv6 one; removed by the admin
    with whatever ports a failed test left on it (a member may not delete a bound port)."""
    net = demo.network.create_network(name=f"higgins-test-{uuidlib.uuid4().hex[:6]}")
    v4 = demo.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.93.0.0/24")
    v6 = demo.network.create_subnet(network_id=net.id, ip_version=6, cidr="fd00:93::/64")
    yield {"net": net, "v4": v4, "v6": v6}
    admin = connect("admin", "admin", "admin-secret")
    for port in admin.network.ports(network_id=net.id):
        admin.network.delete_port(port.id, ignore_missing=True)
    admin.network.delete_network(net.id, ignore_missing=True)
    admin.close()


@pytest.fixture(scope="module")
def api(cloud: Higgins) -> Api:
    return member_api(cloud)


def run(api: Api, **body: Any) -> dict[str, Any]:
    made = api.create(command=SLEEPER, **body)
    return api.wait_status(made["uuid"], "Running", timeout=60)


def v4_of(container: dict[str, Any], network_id: str) -> str:
    return next(a["addr"] for a in container["addresses"][network_id] if a["version"] == 4)


@contextlib.contextmanager
def serving(api: Api, network: dict[str, Any], ports: tuple[int, ...] = (8080,),
            **body: Any) -> Iterator[tuple[dict[str, Any], Callable[[int], bool]]]:
    """A container (created with `body`) answering "hi" on `ports`, and a client on the same
    network: the server's view and whether the client reaches a port; both deleted after."""
    listen = (f"for p in {' '.join(map(str, ports))}; do (while true; do echo hi | "
              "nc -l -p $p; done) & done; trap 'exit 0' TERM; sleep 300 & wait")
    made: list[str] = []
    try:
        server = api.wait_status(api.create(command=["sh", "-c", listen],
                                            nets=[{"network": network["net"].id}],
                                            **body)["uuid"], "Running", timeout=60)
        made.append(server["uuid"])
        client = run(api, nets=[{"network": network["net"].id}])
        made.append(client["uuid"])
        address = v4_of(server, network["net"].id)

        def reaches(port: int) -> bool:
            probe = f"sh -c 'nc -w 2 {address} {port} </dev/null'"
            return "hi" in execute(api, client["uuid"], probe)["output"]

        yield server, reaches
    finally:
        for uuid in made:
            delete(api, uuid)


def test_a_container_gets_a_bound_port_plugged_into_its_namespace(
        api: Api, demo: openstack.connection.Connection, network: dict[str, Any],
        cloud: Higgins) -> None:
    container = run(api, nets=[{"network": network["net"].id}])
    addresses = container["addresses"][network["net"].id]
    assert {a["version"] for a in addresses} == {4, 6}
    assert {a["subnet_id"] for a in addresses} == {network["v4"].id, network["v6"].id}
    port = demo.network.get_port(addresses[0]["port"])
    assert (port.device_id, port.status) == (container["uuid"], "ACTIVE")
    inside = execute(api, container["uuid"], "ip addr show eth0")["output"]
    assert port.mac_address in inside and f"{v4_of(container, network['net'].id)}/24" in inside
    assert "default via 10.93.0.1" in execute(api, container["uuid"], "ip route")["output"]
    delete(api, container["uuid"])
    assert demo.network.find_port(port.id) is None  # made for it, deleted with it


def test_two_containers_on_one_network_reach_each_other(api: Api,
                                                        network: dict[str, Any]) -> None:
    first = run(api, nets=[{"network": network["net"].id}])
    second = run(api, nets=[{"network": network["net"].id}])
    target = v4_of(second, network["net"].id)
    pinged = execute(api, first["uuid"], f"ping -c 1 -W 3 {target}")
    assert pinged["exit_code"] == 0, pinged
    for container in (first, second):
        delete(api, container["uuid"])


def test_a_port_the_tenant_brought_is_handed_back_unbound(
        api: Api, demo: openstack.connection.Connection, network: dict[str, Any]) -> None:
    port = demo.network.create_port(network_id=network["net"].id,
                                    fixed_ips=[{"subnet_id": network["v4"].id}])
    container = run(api, nets=[{"port": port.id}])
    (address,) = container["addresses"][network["net"].id]
    assert (address["port"], address["addr"], address["preserve_on_delete"]) == \
        (port.id, port.fixed_ips[0]["ip_address"], True)
    delete(api, container["uuid"])
    kept = demo.network.get_port(port.id)
    assert (kept.device_id, kept.device_owner) == ("", "")
    demo.network.delete_port(port.id)


def test_another_projects_network_cannot_be_used(cloud: Higgins,
                                                 network: dict[str, Any]) -> None:
    alt = member_api(cloud, "alt_member", "alt_demo")
    answer = alt.call("POST", "/v1/containers", json={
        "image": "busybox:local", "nets": [{"network": network["net"].id}]})
    assert answer.status_code == 400, answer.text
    assert "could not be found in Neutron" in answer.json()["errors"][0]["detail"]


def test_security_groups_are_enforced_inside_the_namespace(
        api: Api, demo: openstack.connection.Connection, network: dict[str, Any]) -> None:
    group = demo.network.create_security_group(name=f"web-{uuidlib.uuid4().hex[:6]}")
    demo.network.create_security_group_rule(
        security_group_id=group.id, direction="ingress", ethertype="IPv4", protocol="tcp",
        port_range_min=8080, port_range_max=8080)
    try:
        with serving(api, network, (8080, 8081), security_groups=[group.name]) as (
                server, reaches):
            assert server["security_groups"] == [group.id]  # Zun shows the groups' ids
            assert reaches(8080) and not reaches(8081)
    finally:
        demo.network.delete_security_group(group.id)


def test_a_network_attached_and_detached_while_it_runs(
        api: Api, demo: openstack.connection.Connection, network: dict[str, Any]) -> None:
    other = demo.network.create_network(name=f"higgins-test-{uuidlib.uuid4().hex[:6]}")
    demo.network.create_subnet(network_id=other.id, ip_version=4, cidr="10.94.0.0/24")
    container = run(api, nets=[{"network": network["net"].id}])
    uuid = container["uuid"]
    try:
        assert api.action(uuid, "network_attach", f"?network={other.id}").status_code == 202
        listed = wait_for(lambda: len(n := api.call(
            "GET", f"/v1/containers/{uuid}/network_list").json()["networks"]) == 2 and n,
            30, "two networks listed")
        added = next(n for n in listed if n["net_id"] == other.id)
        inside = execute(api, uuid, "ip addr show eth1")["output"]
        assert added["fixed_ips"][0]["ip_address"] in inside
        assert api.action(uuid, "network_detach", f"?network={other.id}").status_code == 202
        wait_for(lambda: [n["net_id"] for n in api.call(
            "GET", f"/v1/containers/{uuid}/network_list").json()["networks"]] ==
            [network["net"].id], 30, "one network left")
        assert demo.network.find_port(added["port_id"]) is None
        assert execute(api, uuid, "ip link show eth1")["exit_code"] != 0
    finally:
        delete(api, uuid)
        demo.network.delete_network(other.id)


def test_a_security_group_added_and_removed_opens_and_closes_a_port(
        api: Api, demo: openstack.connection.Connection, network: dict[str, Any]) -> None:
    group = demo.network.create_security_group(name=f"web-{uuidlib.uuid4().hex[:6]}")
    demo.network.create_security_group_rule(
        security_group_id=group.id, direction="ingress", ethertype="IPv4", protocol="tcp",
        port_range_min=8080, port_range_max=8080)
    closed = demo.network.create_security_group(name=f"closed-{uuidlib.uuid4().hex[:6]}")

    def shows(wanted: bool) -> bool:
        return (group.id in (api.show(server["uuid"]) or {}).get("security_groups", [])) \
            == wanted

    try:
        with serving(api, network, security_groups=[closed.name]) as (server, reaches):
            assert not reaches(8080)  # its only group has no ingress rule
            assert api.action(server["uuid"], "add_security_group",
                              f"?name={group.name}").status_code == 202
            wait_for(lambda: shows(True), 30, "the group shown")
            assert reaches(8080)
            assert api.action(server["uuid"], "remove_security_group",
                              f"?name={group.name}").status_code == 202
            wait_for(lambda: shows(False), 30, "the group gone")
            assert not reaches(8080)
    finally:
        demo.network.delete_security_group(group.id)
        demo.network.delete_security_group(closed.id)


def test_a_rule_added_in_neutron_reaches_a_running_container(
        api: Api, demo: openstack.connection.Connection, network: dict[str, Any]) -> None:
    group = demo.network.create_security_group(name=f"later-{uuidlib.uuid4().hex[:6]}")
    try:
        with serving(api, network, security_groups=[group.name]) as (_, reaches):
            assert not reaches(8080)
            demo.network.create_security_group_rule(
                security_group_id=group.id, direction="ingress", ethertype="IPv4",
                protocol="tcp", port_range_min=8080, port_range_max=8080)
            wait_for(lambda: reaches(8080), 30,
                     "the new rule applied in the container's namespace")
    finally:
        demo.network.delete_security_group(group.id)


def test_exposed_ports_get_a_group_of_their_own_deleted_with_the_container(
        api: Api, demo: openstack.connection.Connection, network: dict[str, Any]) -> None:
    with serving(api, network, exposed_ports={"8080/tcp": {}}) as (server, reaches):
        (group_id,) = server["security_groups"]
        group = demo.network.get_security_group(group_id)
        assert (group.name, server["ports"]) == (f"higgins-exposed-{server['uuid']}", [8080])
        assert {(r["protocol"], r["port_range_min"]) for r in group.security_group_rules
                if r["direction"] == "ingress"} == {("tcp", 8080)}
        assert reaches(8080)
    wait_for(lambda: demo.network.find_security_group(group_id) is None, 30,
             "the exposed ports' group deleted with the container")
