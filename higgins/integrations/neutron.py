"""EDGE: Neutron ports for containers (Zun's `nets` and security groups), through openstacksdk:
the API resolves what a tenant asked for as the tenant (their networks, ports and groups, by
Neutron's own rules); the agent, as Higgins' service user, creates or takes over the ports,
binds them to its host (binding:host_id, device_id = the container) and reads back what it needs
to plug them (MAC, fixed IPs with their subnets' prefixes and gateways, the binding's vif
details), and releases them with the container. Side effects: HTTP to Neutron."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import openstack.connection
import openstack.exceptions

from higgins.integrations.errors import ServiceError, translated

Connection = openstack.connection.Connection
DEVICE_OWNER = "compute:higgins"
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


@dataclass(frozen=True)
class FixedIp:
    address: str
    subnet_id: str
    version: int
    prefixlen: int
    gateway: str | None


@dataclass(frozen=True)
class Binding:
    """A port bound to a host, as the host needs it to plug it in."""
    port_id: str
    network_id: str
    mac: str
    mtu: int
    vif_type: str
    vif_details: dict[str, Any]
    fixed_ips: tuple[FixedIp, ...]
    security_group_ids: tuple[str, ...]
    port_security: bool


def find_network(conn: Connection, ref: str) -> dict[str, Any]:
    """The network `ref` (an id, or a name only one visible network has) as the caller sees
    it: {"id", "name", "shared"}."""
    with translated("Neutron", f"look up network {ref}"):
        try:
            found = conn.network.find_network(ref, ignore_missing=True)
        except openstack.exceptions.DuplicateResource as error:
            raise ServiceError(409, f"Multiple networks are named {ref!r}; use its id.") \
                from error
    if found is None:
        raise ServiceError(400, f"Network {ref} could not be found in Neutron.")
    return {"id": found.id, "name": found.name, "shared": bool(found.is_shared)}


def project_network(conn: Connection, project_id: str) -> dict[str, Any]:
    """Zun's default when no network is asked for: the project's own oldest network."""
    with translated("Neutron", "list the project's networks"):
        owned = [n for n in conn.network.networks(project_id=project_id)
                 if not n.is_shared and not n.is_router_external]
    if not owned:
        raise ServiceError(409, "The project has no Neutron network of its own to put the "
                                "container on; create one, or name one in 'nets'.")
    first = min(owned, key=lambda n: (n.created_at or "", n.id))
    return {"id": first.id, "name": first.name, "shared": False}


def find_port(conn: Connection, ref: str) -> dict[str, Any]:
    """A free port `ref` (id or unique name) of the caller's: {"id", "network_id"}."""
    with translated("Neutron", f"look up port {ref}"):
        try:
            found = conn.network.find_port(ref, ignore_missing=True)
        except openstack.exceptions.DuplicateResource as error:
            raise ServiceError(409, f"Multiple ports are named {ref!r}; use its id.") \
                from error
    if found is None:
        raise ServiceError(400, f"Port {ref} could not be found in Neutron.")
    if found.device_id:
        raise ServiceError(409, f"Port {found.id} is in use by {found.device_id}.")
    return {"id": found.id, "network_id": found.network_id}


def security_group_ids(conn: Connection, refs: Sequence[str], project_id: str) -> list[str]:
    """The ids of the project's security groups `refs` (names or ids), in order."""
    ids = []
    for ref in refs:
        with translated("Neutron", f"look up security group {ref}"):
            query = {"id": ref} if _UUID.match(ref) else {"name": ref}
            found = list(conn.network.security_groups(project_id=project_id, **query))
        if not found:
            raise ServiceError(400, f"Security group {ref} could not be found in Neutron.")
        if len(found) > 1:
            raise ServiceError(409, f"Multiple security groups are named {ref!r}; use its id.")
        ids.append(str(found[0].id))
    return ids


def exposing_group(conn: Connection, name: str, ports: Sequence[tuple[int, str]]) -> str:
    """A new security group of the caller's letting in `ports` ((port, tcp|udp), IPv4 and
    IPv6), for Zun's exposed_ports; its id."""
    with translated("Neutron", "create the security group of the exposed ports"):
        group = conn.network.create_security_group(
            name=name, description="Ports a Higgins container exposes (Zun's exposed_ports)")
        for port, protocol in ports:
            for ethertype in ("IPv4", "IPv6"):
                conn.network.create_security_group_rule(
                    security_group_id=group.id, direction="ingress", ethertype=ethertype,
                    protocol=protocol, port_range_min=port, port_range_max=port)
        return str(group.id)


def delete_security_group(conn: Connection, group_id: str) -> None:
    with translated("Neutron", f"delete security group {group_id}"):
        conn.network.delete_security_group(group_id, ignore_missing=True)


def create_port(conn: Connection, project_id: str, network_id: str,
                fixed_ips: Sequence[dict[str, str]], security_groups: Sequence[str],
                device_id: str) -> str:
    """A new port for the tenant on `network_id` (as the service user, owned by the tenant's
    project), marked as the container's from the start (so a retry finds it); its id."""
    attrs: dict[str, Any] = {"project_id": project_id, "network_id": network_id,
                             "name": f"higgins-{device_id[:8]}", "device_id": device_id,
                             "device_owner": DEVICE_OWNER}
    if fixed_ips:
        attrs["fixed_ips"] = list(fixed_ips)
    if security_groups:
        attrs["security_group_ids"] = list(security_groups)
    with translated("Neutron", f"create a port on network {network_id}"):
        return str(conn.network.create_port(**attrs).id)


def bind_port(conn: Connection, port_id: str, device_id: str, host: str,
              security_groups: Sequence[str] | None = None) -> Binding:
    """Bind the port to `host` for the container `device_id`; what the host plugs in."""
    attrs: dict[str, Any] = {"device_id": device_id, "device_owner": DEVICE_OWNER,
                             "binding_host_id": host}
    if security_groups is not None:
        attrs["security_group_ids"] = list(security_groups)
    with translated("Neutron", f"bind port {port_id} to host {host}"):
        port = conn.network.update_port(port_id, **attrs)
        if port.binding_vif_type in (None, "unbound", "binding_failed"):
            raise ServiceError(502, f"Neutron could not bind port {port_id} to host {host} "
                                    f"(vif_type {port.binding_vif_type}); is the 'higgins' ML2 "
                                    "mechanism driver enabled?")
        return _binding(conn, port)


def describe_port(conn: Connection, port_id: str) -> Binding:
    """A bound port as it is now (its fixed IPs, groups, binding)."""
    with translated("Neutron", f"read port {port_id}"):
        return _binding(conn, conn.network.get_port(port_id))


def _binding(conn: Connection, port: Any) -> Binding:
    network = conn.network.get_network(port.network_id)
    subnets = {s: conn.network.get_subnet(s) for s in
               {ip["subnet_id"] for ip in port.fixed_ips or ()}}
    return Binding(
        str(port.id), str(port.network_id), str(port.mac_address),
        int(network.mtu or 1500), str(port.binding_vif_type),
        dict(port.binding_vif_details or {}),
        tuple(_fixed_ip(ip, subnets[ip["subnet_id"]]) for ip in port.fixed_ips or ()),
        tuple(port.security_group_ids or ()), port.is_port_security_enabled is not False)


def _fixed_ip(ip: dict[str, str], subnet: Any) -> FixedIp:
    return FixedIp(ip["ip_address"], ip["subnet_id"], int(subnet.ip_version),
                   int(str(subnet.cidr).split("/")[1]), subnet.gateway_ip or None)


def ports_of(conn: Connection, device_id: str) -> list[dict[str, Any]]:
    """The ports already marked as the container's (a retried create takes them up)."""
    with translated("Neutron", f"list the ports of {device_id}"):
        return [{"id": p.id, "network_id": p.network_id}
                for p in conn.network.ports(device_id=device_id)]


def release_port(conn: Connection, port_id: str, preserve: bool) -> None:
    """A container's port once it is gone: deleted, or (a port the tenant brought) unbound
    and handed back as it came. Gone already: nothing to do."""
    with translated("Neutron", f"release port {port_id}"):
        if not preserve:
            conn.network.delete_port(port_id, ignore_missing=True)
            return
        try:
            conn.network.update_port(port_id, device_id="", device_owner="",
                                     binding_host_id="")
        except openstack.exceptions.NotFoundException:
            return


def port_groups(conn: Connection, port_id: str) -> tuple[tuple[str, ...], bool] | None:
    """The port's security groups and whether port security is on; None when it is gone."""
    with translated("Neutron", f"read port {port_id}"):
        try:
            port = conn.network.get_port(port_id)
        except openstack.exceptions.NotFoundException:
            return None
    return tuple(port.security_group_ids or ()), port.is_port_security_enabled is not False


def set_security_groups(conn: Connection, port_id: str, group_ids: Sequence[str]) -> None:
    with translated("Neutron", f"set the security groups of port {port_id}"):
        conn.network.update_port(port_id, security_group_ids=list(group_ids))


def security_group_rules(conn: Connection, group_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The rules of the groups, remote groups expanded into the fixed IPs of their ports."""
    rules: list[dict[str, Any]] = []
    with translated("Neutron", "read security group rules"):
        for rule in conn.network.security_group_rules(security_group_id=list(group_ids)):
            base = {"direction": rule.direction, "ethertype": rule.ether_type,
                    "protocol": rule.protocol, "port_range_min": rule.port_range_min,
                    "port_range_max": rule.port_range_max,
                    "remote_ip_prefix": rule.remote_ip_prefix}
            if not rule.remote_group_id:
                rules.append(base)
                continue
            for port in conn.network.ports(security_group_ids=[rule.remote_group_id]):
                for ip in port.fixed_ips or ():
                    v6 = ":" in ip["ip_address"]
                    if (rule.ether_type == "IPv6") == v6:
                        rules.append({**base, "remote_ip_prefix":
                                      f"{ip['ip_address']}/{128 if v6 else 32}"})
    return rules
