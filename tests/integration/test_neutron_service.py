"""Neutron for real (scripts/start-neutron.sh: ML2 with Higgins' mechanism driver `higgins`,
flat and VXLAN networks, no Neutron agent) through openstacksdk, as the Keystone personas of
scripts/keystone/bootstrap.py, Higgins' service user and the cloud admin: networks and subnets
(IPv4 and IPv6), ports, their binding to a host by the driver, security groups, shared networks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openstack
import openstack.connection
import pytest

from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.neutron, pytest.mark.keystone]

KEYSTONE = "http://127.0.0.1:5000/v3"
HOST = "test-host-1"
VNI_RANGE = range(1000, 2000)  # scripts/neutron/ml2_conf.ini.in [ml2_type_vxlan]
VXLAN_MTU = 1450  # global_physnet_mtu 1500 less VXLAN over IPv4's 50


def connect(user: str, project: str, password: str = "secret") -> openstack.connection.Connection:
    return openstack.connect(auth_url=KEYSTONE, username=user, password=password,
                             project_name=project, user_domain_id="default",
                             project_domain_id="default", region_name="RegionOne")


@pytest.fixture(scope="module")
def demo() -> Iterator[openstack.connection.Connection]:
    connection = connect("demo_member", "demo")
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def service() -> Iterator[openstack.connection.Connection]:
    """Higgins' own service user (role service in project service): who binds ports."""
    connection = connect("higgins", "service")
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def admin() -> Iterator[openstack.connection.Connection]:
    connection = connect("admin", "admin", "admin-secret")
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def network(demo: openstack.connection.Connection) -> Iterator[Any]:
    """A demo project network with an IPv4 and an IPv6 subnet."""
    net = demo.network.create_network(name="test-neutron-service")
    demo.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.91.0.0/24")
    demo.network.create_subnet(network_id=net.id, ip_version=6, cidr="fd00:91::/64")
    yield net
    for port in demo.network.ports(network_id=net.id):
        demo.network.delete_port(port)
    demo.network.delete_network(net)


@pytest.fixture
def port(demo: openstack.connection.Connection, network: Any) -> Iterator[Any]:
    made = demo.network.create_port(network_id=network.id, name="test-neutron-service")
    yield made
    demo.network.delete_port(made, ignore_missing=True)


def status_becomes(connection: openstack.connection.Connection, port_id: str,
                   status: str) -> Any:
    return wait_for(lambda: (p := connection.network.get_port(port_id)).status == status and p,
                    timeout=10, what=f"port {port_id} {status}")


def test_project_network_is_vxlan_from_the_range_with_its_mtu(
        admin: openstack.connection.Connection, network: Any) -> None:
    seen = admin.network.get_network(network.id)
    assert seen.provider_network_type == "vxlan"
    assert seen.provider_segmentation_id in VNI_RANGE
    assert seen.mtu == VXLAN_MTU
    assert seen.status == "ACTIVE"


def test_port_has_ipv4_and_ipv6_fixed_ips_and_is_down_unbound(port: Any) -> None:
    versions = sorted(":" in fixed["ip_address"] for fixed in port.fixed_ips)
    assert versions == [False, True]
    assert port.status == "DOWN"
    assert port.is_port_security_enabled is True
    assert len(port.security_group_ids) == 1  # the project's default group


@pytest.mark.parametrize("binder", ["service", "admin"])
def test_port_bound_to_a_host_gets_a_bridge_binding_and_is_active(
        request: pytest.FixtureRequest, demo: openstack.connection.Connection,
        admin: openstack.connection.Connection, network: Any, port: Any, binder: str) -> None:
    bound = request.getfixturevalue(binder).network.update_port(port.id, binding_host_id=HOST)
    segment = admin.network.get_network(network.id).provider_segmentation_id
    assert bound.binding_host_id == HOST
    assert bound.binding_vif_type == "bridge"
    assert bound.binding_vif_details == {
        "bridge_name": "hg-" + network.id[:11], "connectivity": "l2", "port_filter": True,
        "network_type": "vxlan", "segmentation_id": segment, "physical_network": None,
        "mtu": VXLAN_MTU, "bound_drivers": {"0": "higgins"}}
    assert bound.status == "ACTIVE"
    as_owner = demo.network.get_port(port.id)
    assert as_owner.status == "ACTIVE"
    assert as_owner.binding_vif_type is None  # Neutron's policy: bindings are admin's/service's


def test_unbinding_makes_the_port_down(service: openstack.connection.Connection,
                                       port: Any) -> None:
    service.network.update_port(port.id, binding_host_id=HOST)
    unbound = service.network.update_port(port.id, binding_host_id="")
    assert (unbound.status, unbound.binding_vif_type) == ("DOWN", "unbound")


def test_admin_state_down_and_up_moves_a_bound_port(demo: openstack.connection.Connection,
                                                   service: openstack.connection.Connection,
                                                   port: Any) -> None:
    service.network.update_port(port.id, binding_host_id=HOST)
    demo.network.update_port(port.id, is_admin_state_up=False)
    status_becomes(demo, port.id, "DOWN")
    demo.network.update_port(port.id, is_admin_state_up=True)
    status_becomes(demo, port.id, "ACTIVE")


def test_port_of_another_vnic_type_fails_to_bind(service: openstack.connection.Connection,
                                                 port: Any) -> None:
    service.network.update_port(port.id, binding_vnic_type="direct")
    failed = service.network.update_port(port.id, binding_host_id=HOST)
    assert failed.binding_vif_type == "binding_failed"
    assert failed.status == "DOWN"


def test_security_group_added_to_and_removed_from_a_port(
        demo: openstack.connection.Connection, port: Any) -> None:
    group = demo.network.create_security_group(name="test-neutron-service")
    try:
        rule = demo.network.create_security_group_rule(
            security_group_id=group.id, direction="ingress", ethertype="IPv4", protocol="tcp",
            port_range_min=22, port_range_max=22, remote_ip_prefix="10.0.0.0/8")
        assert rule.id in {r["id"] for r in demo.network.get_security_group(group.id)
                           .security_group_rules}
        default = port.security_group_ids[0]
        added = demo.network.update_port(port.id, security_group_ids=[default, group.id])
        assert sorted(added.security_group_ids) == sorted([default, group.id])
        removed = demo.network.update_port(port.id, security_group_ids=[default])
        assert removed.security_group_ids == [default]
        demo.network.delete_security_group_rule(rule)
    finally:
        demo.network.delete_security_group(group)


def test_port_without_port_security_has_no_groups(demo: openstack.connection.Connection,
                                                  network: Any) -> None:
    bare = demo.network.create_port(network_id=network.id, is_port_security_enabled=False)
    try:
        assert (bare.is_port_security_enabled, bare.security_group_ids) == (False, [])
    finally:
        demo.network.delete_port(bare)


def test_shared_network_of_the_admin_serves_the_demo_project(
        admin: openstack.connection.Connection, demo: openstack.connection.Connection) -> None:
    shared = admin.network.create_network(name="test-neutron-shared", shared=True)
    try:
        admin.network.create_subnet(network_id=shared.id, ip_version=4, cidr="10.92.0.0/24")
        assert shared.id in {n.id for n in demo.network.networks()}
        mine = demo.network.create_port(network_id=shared.id)
        assert mine.project_id == demo.current_project_id
        demo.network.delete_port(mine)
    finally:
        admin.network.delete_network(shared)


def test_flat_network_binds_with_its_physical_network(
        admin: openstack.connection.Connection) -> None:
    flat = admin.network.create_network(name="test-neutron-flat", provider_network_type="flat",
                                        provider_physical_network="physnet-test")
    try:
        admin.network.create_subnet(network_id=flat.id, ip_version=4, cidr="10.93.0.0/24")
        bound = admin.network.create_port(network_id=flat.id, binding_host_id=HOST)
        assert bound.binding_vif_type == "bridge"
        details = bound.binding_vif_details
        assert (details["network_type"], details["segmentation_id"],
                details["physical_network"], details["mtu"]) == ("flat", None, "physnet-test", 1500)
        assert bound.status == "ACTIVE"
        admin.network.delete_port(bound)
    finally:
        admin.network.delete_network(flat)
