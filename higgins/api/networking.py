"""EDGE: Zun's networking in the API: a create's `nets` and `security_groups` resolved in
Neutron as the caller (their networks, ports and groups, by Neutron's rules; the project's own
network when none is named, as Zun does), recorded for the agent that binds and plugs the
ports; and the container's network list. Side effects: HTTP to Neutron."""

from __future__ import annotations

from typing import Any

import flask

from higgins.api import errors
from higgins.api.identity import Caller
from higgins.api.services import services
from higgins.integrations import connections, neutron
from higgins.integrations.errors import ServiceError

_NET_KEYS = ("network", "port", "v4-fixed-ip", "v6-fixed-ip", "preserve_on_delete")


def enabled() -> bool:
    return services().openstack.neutron


def connection() -> neutron.Connection:
    return connections.for_request(flask.request.environ, services().openstack)


def refused(error: ServiceError) -> errors.ApiError:
    return errors.ApiError(error.status, "container.network", str(error))


def resolve(body: dict[str, Any], caller: Caller, uuid: str) -> dict[str, Any]:
    """What a create records about its networks: nothing without Neutron (where only Zun's
    empty forms are accepted), else the nets and security groups resolved for the caller, and
    for Zun's exposed_ports a security group of the caller's opening them, made now and
    deleted with the container."""
    nets, groups = body.get("nets") or [], body.get("security_groups") or []
    exposed = exposed_ports(body.get("exposed_ports"))
    if not enabled():
        if nets or exposed:
            field = "nets" if nets else "exposed_ports"
            raise errors.bad_request(f"'{field}' needs Neutron, and this Higgins has none "
                                     "configured ([neutron] enabled); leave it out or empty.")
        if any(group != "default" for group in groups):
            raise errors.bad_request("Security groups other than 'default' need Neutron, and "
                                     "this Higgins has none configured ([neutron] enabled).")
        return {}
    conn = connection()
    try:
        resolved = [net_of(conn, net) for net in nets] or \
            [{"network": neutron.project_network(conn, caller.project_id)["id"]}]
        ids = neutron.security_group_ids(conn, groups, caller.project_id) if groups else []
        made = neutron.exposing_group(conn, f"higgins-exposed-{uuid}", exposed) \
            if exposed else None
    except ServiceError as error:
        raise refused(error) from error
    spec: dict[str, Any] = {"nets": resolved, "security_groups": list(groups),
                            "security_group_ids": ids}
    if made is not None:
        spec.update(security_group_ids=[*ids, made], exposed_group=made,
                    exposed_ports={f"{port}/{proto}": {} for port, proto in exposed})
    return spec


def exposed_ports(given: Any) -> list[tuple[int, str]]:
    """Zun's exposed_ports ({"80/tcp": {}, "53/udp": {}, "8080": {}}) as (port, protocol)."""
    if not given:
        return []
    if not isinstance(given, dict):
        raise errors.bad_request("Invalid input for field 'exposed_ports': an object whose "
                                 "keys are port[/protocol].")
    ports = []
    for key in given:
        port, _, proto = str(key).partition("/")
        proto = proto.lower() or "tcp"
        if not port.isdigit() or not 1 <= int(port) <= 65535 or proto not in ("tcp", "udp"):
            raise errors.bad_request(f"Invalid input for field 'exposed_ports': {key!r} is not "
                                     "port[/tcp|udp] with a port from 1 to 65535.")
        ports.append((int(port), proto))
    return ports


def net_of(conn: neutron.Connection, net: Any) -> dict[str, Any]:
    """One of Zun's nets entries: {"network"} or {"port"}, with v4-/v6-fixed-ip for a
    network."""
    if not isinstance(net, dict) or not (net.get("network") or net.get("port")) or \
            set(net) - set(_NET_KEYS):
        raise errors.bad_request("Invalid input for field 'nets': each entry is an object with "
                                 f"'network' or 'port' (keys: {', '.join(_NET_KEYS)}).")
    if net.get("port"):
        port = neutron.find_port(conn, str(net["port"]))
        return {"network": port["network_id"], "port": port["id"], "preserve_on_delete": True}
    network = neutron.find_network(conn, str(net["network"]))
    fixed = [{"ip_address": str(net[key])} for key in ("v4-fixed-ip", "v6-fixed-ip")
             if net.get(key)]
    return {"network": network["id"], "fixed_ips": fixed,
            "preserve_on_delete": bool(net.get("preserve_on_delete"))}

