"""PURE: a container's networking changes (Zun's network_attach / network_detach and
add / remove_security_group): the command each request becomes for the agent, and the fold of
what the agent reports back (the container's addresses, ports and security groups now)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from higgins import events
from higgins.events import EventType
from higgins.processors.model import ContainerState


def command_data(state: ContainerState, envelope: events.Envelope) -> dict[str, Any]:
    """The agent's network command for one request: what to change, the container's ports as
    they are, and (for a security group) the groups its ports get."""
    data, kind = envelope["data"], envelope["type"]
    base: dict[str, Any] = {"ports": [dict(p) for p in state.ports],
                            "project_id": state.project_id,
                            "security_groups": list(state.security_groups),
                            "security_group_ids": list(state.security_group_ids)}
    if kind == EventType.NETWORK_ATTACH_REQUESTED:
        return {**base, "op": "attach", "net": dict(data["net"])}
    if kind == EventType.NETWORK_DETACH_REQUESTED:
        return {**base, "op": "detach", "detach": list(data["ports"])}
    adding = kind == EventType.SECURITY_GROUP_ADD_REQUESTED
    return {**base, "op": "add_security_group" if adding else "remove_security_group",
            "group": data["id"],
            "security_groups": names_after(state.security_groups, data["name"], adding)}


def names_after(names: list[str], name: str, adding: bool) -> list[str]:
    """The security groups the container shows once `name` is added or removed (adding one
    it shows, or removing one it does not, changes nothing)."""
    if adding:
        return names if name in names else [*names, name]
    return [n for n in names if n != name]


def changed(state: ContainerState, data: Mapping[str, Any]) -> ContainerState:
    """container.network.changed: the agent's picture of the container's networking."""
    changes: dict[str, Any] = {"addresses": dict(data["addresses"]),
                               "ports": [dict(p) for p in data["ports"]]}
    if "security_group_ids" in data:
        changes["security_group_ids"] = list(data["security_group_ids"])
        changes["security_groups"] = list(data.get("security_groups") or ())
    return state.evolve(**changes)


def network_list(state: ContainerState) -> list[dict[str, Any]]:
    """Zun's network_list: one entry per port, with its fixed IPs."""
    listed = []
    for port in state.ports:
        fixed = [{"ip_address": a["addr"], "version": a["version"],
                  "subnet_id": a["subnet_id"]}
                 for a in state.addresses.get(str(port.get("network_id")), ())
                 if a.get("port") == port["id"]]
        listed.append({"net_id": port.get("network_id"), "port_id": port["id"],
                       "fixed_ips": fixed,
                       "preserve_on_delete": bool(port.get("preserve_on_delete"))})
    return listed
