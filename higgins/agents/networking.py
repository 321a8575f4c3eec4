"""EDGE: the agent's Neutron ports (Zun's `nets`): for a container with ports, each port is made
(or, brought by the tenant, taken over) and bound to this host as Higgins' service user, a
network sandbox (a paused process with no network of Docker's) is started, and each port is
plugged into the sandbox's namespace (higgins.agents.netwiring: veth, Linux bridge, MAC, fixed
IPs, gateway, MTU, the ports' security groups); the container then joins that namespace. With
the container, the ports go: deleted, or unbound when the tenant brought them.
Side effects: HTTP to Neutron, Docker calls, kernel network objects."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from higgins.agents import netwiring
from higgins.agents.docker_driver import DockerDriver
from higgins.faults import DriverError
from higgins.integrations import connections, neutron
from higgins.integrations.errors import ServiceError
from higgins.settings import OpenStackSettings
from higgins.store.base import Store

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attached:
    """What the created event reports: Zun's addresses, and the ports to release later."""
    addresses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ports: list[dict[str, Any]] = field(default_factory=list)


class Networking:
    def __init__(self, connect: Callable[[], neutron.Connection], driver: DockerDriver,
                 host: str, tunnel_ip: str = "",
                 peers: Callable[[], list[str]] = list) -> None:
        self._connect = connect  # Higgins' service user
        self._driver = driver
        self._host = host
        self.tunnel_ip = tunnel_ip  # this host's VXLAN end ("": one host, no VXLAN)
        self._peers = peers  # the other hosts' tunnel addresses, as they last reported
        # the containers with ports on this host, and the rules each interface has now
        self._ports: dict[str, list[dict[str, Any]]] = {}
        self._applied: dict[tuple[str, str], tuple[netwiring.Rule, ...] | None] = {}
        self._lock = threading.Lock()
        # plugs and prunes one at a time: a bridge pruned as another port is put on it
        self._wiring = threading.Lock()

    @classmethod
    def configured(cls, settings: OpenStackSettings, driver: DockerDriver, host: str,
                   tunnel_ip: str, store: Store) -> Networking | None:
        """The host's Neutron ports when [neutron] is enabled, else None; its VXLAN peers
        are the other hosts that report a tunnel address."""
        if not settings.neutron:
            return None

        def peers() -> list[str]:
            return sorted({h.tunnel_ip for h in store.list_hosts()
                           if h.name != host and h.tunnel_ip and not h.deleted})

        return cls(lambda: connections.for_service(settings), driver, host, tunnel_ip, peers)

    def refresh_peers(self) -> None:
        """Make every VXLAN device's flood list the hosts that report now (hosts come and
        go; each report of this host's agent calls this)."""
        if not self.tunnel_ip:
            return
        peers = self._peers()
        for vni in netwiring.vxlan_vnis():
            netwiring.set_peers(vni, peers)

    def remember(self, uuid: str, ports: list[dict[str, Any]]) -> None:
        """The container's ports, as plugged (a reconciling agent learns them from the
        views); an empty list forgets it."""
        with self._lock:
            if ports:
                self._ports[uuid] = [dict(p) for p in ports]
            else:
                self._ports.pop(uuid, None)
                for key in [k for k in self._applied if k[0] == uuid]:
                    del self._applied[key]

    def refresh_filters(self) -> None:
        """Bring every plugged interface's filter to its port's security groups and their
        rules as Neutron has them now: a rule or group edited in Neutron reaches running
        containers within one report interval (Neutron's own agents learn it by RPC)."""
        with self._lock:
            known = {uuid: list(ports) for uuid, ports in self._ports.items()}
        if not known:
            return
        conn = self._connect()
        for uuid, ports in known.items():
            pid = self._driver.network_sandbox_pid(uuid)
            if pid is None:
                continue
            for port in ports:
                try:
                    self._filter(conn, uuid, pid, port["id"], str(port.get("ifname") or "eth0"))
                except (ServiceError, netwiring.WiringError) as error:
                    LOG.warning("filter of port %s of %s not refreshed: %s", port["id"], uuid,
                                error)

    def _filter(self, conn: neutron.Connection, uuid: str, pid: int, port_id: str,
                ifname: str) -> None:
        found = neutron.port_groups(conn, port_id)
        if found is None:
            return
        groups, port_security = found
        rules = tuple(netwiring.Rule(**r) for r in neutron.security_group_rules(conn, groups)) \
            if port_security else None
        key = (uuid, ifname)
        if key in self._applied and self._applied[key] == rules:
            return  # as applied last (a first pass always applies: the plug's may be older)
        netwiring.apply_security_groups(pid, ifname, list(rules or ()), port_security)
        self._applied[key] = rules

    def _underlay(self) -> netwiring.Underlay | None:
        if not self.tunnel_ip:
            return None
        return netwiring.Underlay(self.tunnel_ip, None, tuple(self._peers()))

    def attach(self, uuid: str, spec: dict[str, Any]) -> Attached:
        """Ports made or taken over, bound here and plugged into the container's sandbox."""
        conn = self._connect()
        taken: list[dict[str, Any]] = []
        try:
            given = {net.get("port") for net in spec["nets"]}
            earlier = [p for p in neutron.ports_of(conn, uuid)  # a retried create's
                       if p["id"] not in given]
            for net in spec["nets"]:
                port_id = net.get("port") or _take(earlier, net["network"]) or \
                    neutron.create_port(conn, spec.get("project_id", ""), net["network"],
                                        net.get("fixed_ips") or (),
                                        spec.get("security_group_ids") or (), uuid)
                taken.append({"id": port_id, "network_id": net.get("network"),
                              "preserve_on_delete": bool(net.get("port")),
                              "ifname": f"eth{len(taken)}"})
            bindings = [neutron.bind_port(conn, p["id"], uuid, self._host) for p in taken]
            pid = self._driver.ensure_network_sandbox(uuid, spec.get("hostname") or None)
            for port, binding in zip(taken, bindings, strict=True):
                self._plug(conn, pid, binding, port["ifname"])
        except (ServiceError, DriverError, netwiring.WiringError) as error:
            self.detach(uuid, taken)
            raise DriverError(f"Could not connect the container to its networks: {error}") \
                from error
        attached = _attached(bindings, taken)
        self.remember(uuid, attached.ports)
        return attached

    def _plug(self, conn: neutron.Connection, pid: int, binding: neutron.Binding,
              ifname: str) -> None:
        details = binding.vif_details
        with self._wiring:
            self._plug_port(pid, binding, details, ifname)
        rules = neutron.security_group_rules(conn, binding.security_group_ids) \
            if binding.port_security else []
        netwiring.apply_security_groups(pid, ifname, [netwiring.Rule(**r) for r in rules],
                                        binding.port_security)

    def _plug_port(self, pid: int, binding: neutron.Binding, details: dict[str, Any],
                   ifname: str) -> None:
        netwiring.plug(pid, netwiring.Port(
            port_id=binding.port_id, mac=binding.mac,
            mtu=int(details.get("mtu") or binding.mtu), bridge=str(details["bridge_name"]),
            network_type=str(details.get("network_type") or "flat"),
            segmentation_id=details.get("segmentation_id"),
            addresses=tuple(f"{ip.address}/{ip.prefixlen}" for ip in binding.fixed_ips),
            gateways=tuple(ip.gateway for ip in binding.fixed_ips if ip.gateway),
            ifname=ifname), self._underlay())

    def change(self, uuid: str, data: dict[str, Any]) -> dict[str, Any]:
        """One of Zun's network actions on a container that has ports: attach a network (a
        port bound and plugged as the next ethN), detach ports, add or remove a security
        group on every port (its filter renewed in the namespace). What container.network.
        changed reports: the container's addresses, ports and security groups now."""
        conn, op = self._connect(), data["op"]
        ports = [dict(p) for p in data["ports"]]
        try:
            pid = self._driver.ensure_network_sandbox(uuid, None)
            if op == "attach":
                ports.append(self._attach_one(conn, uuid, pid, data, ports))
            elif op == "detach":
                gone = [p for p in ports if p["id"] in data["detach"]]
                self.detach(uuid, gone, keep_sandbox=True)
                ports = [p for p in ports if p["id"] not in data["detach"]]
            else:
                self._regroup(conn, uuid, pid, ports, data["group"],
                              op == "add_security_group")
            bindings = [neutron.describe_port(conn, p["id"]) for p in ports]
        except (ServiceError, netwiring.WiringError) as error:
            raise DriverError(f"Could not change the container's networking: {error}") \
                from error
        attached = _attached(bindings, ports)
        self.remember(uuid, attached.ports)
        return {"addresses": attached.addresses, "ports": attached.ports,
                "security_groups": list(data.get("security_groups") or ()),
                "security_group_ids": list(bindings[0].security_group_ids) if bindings else []}

    def _attach_one(self, conn: neutron.Connection, uuid: str, pid: int,
                    data: dict[str, Any], ports: list[dict[str, Any]]) -> dict[str, Any]:
        net = data["net"]
        used = {p.get("ifname") for p in ports}
        ifname = next(f"eth{i}" for i in range(len(ports) + 1) if f"eth{i}" not in used)
        port_id = net.get("port") or neutron.create_port(
            conn, data.get("project_id", ""), net["network"], net.get("fixed_ips") or (),
            data.get("security_group_ids") or (), uuid)
        taken = {"id": port_id, "network_id": net.get("network"),
                 "preserve_on_delete": bool(net.get("port") or net.get("preserve_on_delete")),
                 "ifname": ifname}
        try:
            self._plug(conn, pid, neutron.bind_port(conn, port_id, uuid, self._host), ifname)
        except (ServiceError, netwiring.WiringError):
            self.detach(uuid, [taken], keep_sandbox=True)
            raise
        return taken

    def _regroup(self, conn: neutron.Connection, uuid: str, pid: int,
                 ports: list[dict[str, Any]], group: str, adding: bool) -> None:
        """Add or remove `group` on every port, and renew each interface's filter (only the
        filter: the port stays plugged as it is)."""
        for port in ports:
            found = neutron.port_groups(conn, port["id"])
            if found is None:
                continue
            current = list(found[0])
            wanted = [*current, group] if adding and group not in current else \
                [g for g in current if g != group or adding]
            neutron.set_security_groups(conn, port["id"], wanted)
            self._filter(conn, uuid, pid, port["id"], str(port.get("ifname") or "eth0"))

    def forget_group(self, uuid: str, group_id: str) -> None:
        """Delete the security group made for the container's exposed ports (after its ports
        are gone: Neutron refuses to delete a group a port still has)."""
        try:
            neutron.delete_security_group(self._connect(), group_id)
        except ServiceError as error:
            LOG.warning("security group %s of %s not deleted: %s", group_id, uuid, error)

    def detach(self, uuid: str, ports: list[dict[str, Any]], keep_sandbox: bool = False) -> None:
        """Unplug and release the container's ports and remove its sandbox; what is gone
        already is skipped, so a repeat is harmless."""
        conn = self._connect()
        for port in ports:
            with contextlib.suppress(netwiring.WiringError), self._wiring:
                netwiring.unplug(port["id"])
                if port.get("bridge"):  # the network's last port on this host takes it along
                    netwiring.prune_bridge(str(port["bridge"]))
            try:
                neutron.release_port(conn, port["id"], bool(port.get("preserve_on_delete")))
            except ServiceError as error:
                LOG.warning("port %s of %s not released: %s", port["id"], uuid, error)
        if not keep_sandbox:
            self.remember(uuid, [])
            self._driver.remove_network_sandbox(uuid)


def _take(earlier: list[dict[str, Any]], network_id: str) -> str | None:
    """A port made for this container on `network_id` by an earlier try, used up once."""
    for port in earlier:
        if port["network_id"] == network_id:
            earlier.remove(port)
            return str(port["id"])
    return None


def _attached(bindings: list[neutron.Binding], taken: list[dict[str, Any]]) -> Attached:
    addresses: dict[str, list[dict[str, Any]]] = {}
    ports = []
    for binding, port in zip(bindings, taken, strict=True):
        bridge = binding.vif_details.get("bridge_name")
        ports.append({**port, "network_id": binding.network_id,
                      **({"bridge": str(bridge)} if bridge else {})})
        addresses.setdefault(binding.network_id, []).extend(
            {"addr": ip.address, "version": ip.version, "port": binding.port_id,
             "subnet_id": ip.subnet_id, "preserve_on_delete": port["preserve_on_delete"]}
            for ip in binding.fixed_ips)
    return Attached(addresses, ports)
