"""Containers' Neutron ports and Cinder volumes in the pure core: what a create records and the
agent is told, what the created event and a network change fold into, what a delete releases,
and Zun's network actions (which states allow them, the command each becomes)."""

from __future__ import annotations

from typing import Any

import pytest

from higgins.events import CommandType, EventType
from higgins.processors import containers, networks
from higgins.processors.model import Action, ContainerState, Refusal, Status
from tests.unit.conftest import SPEC, created, envelope, in_status

NET = {"network": "net-1", "fixed_ips": [], "preserve_on_delete": False}
PORTS = [{"id": "port-1", "network_id": "net-1", "preserve_on_delete": False,
          "ifname": "eth0"}]
ADDRESSES = {"net-1": [{"addr": "10.0.0.5", "version": 4, "port": "port-1",
                        "subnet_id": "sub-4", "preserve_on_delete": False},
                       {"addr": "fd00::5", "version": 6, "port": "port-1",
                        "subnet_id": "sub-6", "preserve_on_delete": False}]}
VOLUMES = [{"volume_id": "vol-1", "destination": "/data", "auto_remove": True}]


def with_ports(**changes: Any) -> ContainerState:
    return in_status(Status.RUNNING, host="h1", nets=[NET], security_groups=["web"],
                     security_group_ids=["sg-web"], addresses=ADDRESSES, ports=PORTS,
                     **changes)


def test_a_create_records_its_nets_groups_and_volumes_for_the_agent() -> None:
    state = created(**{**SPEC, "nets": [NET], "security_groups": ["web"],
                       "security_group_ids": ["sg-web"], "volumes": VOLUMES})
    command = containers.create_command(state, "h1")
    assert (command.data["nets"], command.data["security_group_ids"],
            command.data["volumes"]) == ([NET], ["sg-web"], VOLUMES)


def test_a_create_without_them_tells_the_agent_nothing_of_them() -> None:
    command = containers.create_command(created(**SPEC), "h1")
    assert not {"nets", "security_group_ids", "volumes"} & set(command.data)


def test_the_created_event_brings_addresses_ports_and_volume_mounts() -> None:
    state = containers.fold(in_status(Status.CREATING, seq=3, host="h1"), envelope(
        EventType.CREATED, 4, container_id="c1", host="h1", addresses=ADDRESSES, ports=PORTS,
        volume_mounts=[{**VOLUMES[0], "attachment_id": "a1", "path": "/v/x"}]))
    assert state is not None
    assert (state.addresses, state.ports, state.volume_mounts[0]["attachment_id"]) == (
        ADDRESSES, PORTS, "a1")


def test_a_delete_releases_its_ports_and_volumes_even_never_reported_attached() -> None:
    state = with_ports(volumes=VOLUMES)
    routed = containers.route(state, envelope(EventType.DELETE_REQUESTED, state.seq + 1,
                                              force=False, stop=True))
    (command,) = routed.commands
    assert (command.type, command.data["ports"], command.data["volume_mounts"]) == (
        CommandType.DELETE, PORTS, VOLUMES)


@pytest.mark.parametrize(("action", "status", "allowed"), [
    (Action.NETWORK_ATTACH, Status.RUNNING, True), (Action.NETWORK_ATTACH, Status.PAUSED, False),
    (Action.NETWORK_DETACH, Status.STOPPED, True), (Action.NETWORK_DETACH, Status.ERROR, False),
    (Action.ADD_SECURITY_GROUP, Status.PAUSED, True),
    (Action.REMOVE_SECURITY_GROUP, Status.CREATING, False),
])
def test_network_actions_follow_zuns_matrix(action: Action, status: Status,
                                            allowed: bool) -> None:
    refused = containers.check(in_status(status), action)
    assert (refused is None) == allowed
    assert refused is None or isinstance(refused, Refusal)


@pytest.mark.parametrize(("kind", "data", "expected"), [
    pytest.param(EventType.NETWORK_ATTACH_REQUESTED, {"net": {"network": "net-2"}},
                 {"op": "attach", "net": {"network": "net-2"}}, id="attach"),
    pytest.param(EventType.NETWORK_DETACH_REQUESTED, {"ports": ["port-1"]},
                 {"op": "detach", "detach": ["port-1"]}, id="detach"),
    pytest.param(EventType.SECURITY_GROUP_ADD_REQUESTED, {"id": "sg-db", "name": "db"},
                 {"op": "add_security_group", "group": "sg-db",
                  "security_groups": ["web", "db"]}, id="add"),
    pytest.param(EventType.SECURITY_GROUP_REMOVE_REQUESTED, {"id": "sg-web", "name": "web"},
                 {"op": "remove_security_group", "group": "sg-web", "security_groups": []},
                 id="remove"),
])
def test_each_network_request_becomes_one_agent_command(kind: EventType, data: dict[str, Any],
                                                        expected: dict[str, Any]) -> None:
    state = with_ports()
    (command,) = containers.route(state, envelope(kind, state.seq + 1, **data)).commands
    assert command.type == CommandType.NETWORK and command.host == "h1"
    assert expected.items() <= command.data.items()
    assert command.data["ports"] == PORTS


def test_adding_a_group_it_shows_changes_nothing() -> None:
    assert networks.names_after(["web"], "web", adding=True) == ["web"]


def test_a_network_change_replaces_its_networking() -> None:
    state = with_ports()
    state = containers.fold(state, envelope(
        EventType.NETWORK_CHANGED, state.seq + 1, addresses={}, ports=[], security_groups=[],
        security_group_ids=[]))
    assert state is not None
    assert (state.addresses, state.ports, state.security_groups, state.status) == (
        {}, [], [], Status.RUNNING)


def test_the_network_list_is_one_entry_per_port_with_its_fixed_ips() -> None:
    assert networks.network_list(with_ports()) == [{
        "net_id": "net-1", "port_id": "port-1", "preserve_on_delete": False,
        "fixed_ips": [{"ip_address": "10.0.0.5", "version": 4, "subnet_id": "sub-4"},
                      {"ip_address": "fd00::5", "version": 6, "subnet_id": "sub-6"}]}]
