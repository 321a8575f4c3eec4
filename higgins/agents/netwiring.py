"""EDGE: the host side of a Neutron port bound by the ML2 driver `higgins` (vif_type bridge):
a Linux bridge per network, a VXLAN device on it for traffic between hosts, and a veth pair whose
peer carries the port into a container's network namespace.
Also the ports' security groups, as nftables tables in the container's namespace (the rules are
rendered by higgins.agents.netfilter).
Side effects: runs iproute2 (`ip`, `bridge`), `sysctl`, `nft` and util-linux `nsenter` as
subprocesses, creating, changing and deleting network devices, addresses, routes, FDB entries
and nftables tables.

Every host-side function works in the current network namespace (the agent's), or in the one
whose file `host_netns` names (e.g. /run/netns/X: how the tests stand up two hosts on one
machine). A container is reached through its pid: /proc/<pid>/ns/net. Everything is idempotent.

The host's own firewall is left alone. Where bridged frames pass through iptables
(br_netfilter's bridge-nf-call-iptables = 1) and FORWARD drops by default (Docker's engine with
its iptables on), traffic between two taps of a bridge is dropped until the operator allows it,
e.g. `iptables -I DOCKER-USER -i hg-+ -o hg-+ -j ACCEPT` (and ip6tables alike).
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from higgins.agents import netfilter
from higgins.agents.netfilter import Rule as Rule

VXLAN_PORT = 4789  # IANA's; Linux defaults to 8472 when none is given
FLOOD_MAC = "00:00:00:00:00:00"
_IFNAMSIZ = 15
_TIMEOUT_SECONDS = 20.0
# nf_tables missing from the kernel, or no nft binary on the host
_NO_NFTABLES = ("Operation not supported", "Protocol not supported", "failed to execute nft")


class WiringError(RuntimeError):
    """A command failed; the message holds the command and what it printed."""


class FilteringUnavailable(WiringError):
    """nftables does not work in the container's namespace (no nf_tables, or no nft binary)."""


@dataclass(frozen=True)
class Port:
    """What the agent knows from Neutron's port and its binding:vif_details."""

    port_id: str
    mac: str
    mtu: int
    bridge: str  # vif_details bridge_name
    network_type: str  # flat | vxlan
    segmentation_id: int | None  # the VNI on vxlan
    addresses: tuple[str, ...]  # CIDR form: "10.0.0.5/24", "fd00::5/64"
    gateways: tuple[str, ...]  # "10.0.0.1", "fd00::1"; empty on a no_gateway subnet
    ifname: str = "eth0"  # inside the namespace: eth0, eth1... in the order of the nets


@dataclass(frozen=True)
class Underlay:
    """VXLAN between hosts: head-end replication to every peer (no multicast, no agent)."""

    local_ip: str  # this host's address on the underlay
    device: str | None  # the underlay device, or None to let the kernel route
    peers: tuple[str, ...]  # the other hosts' addresses


def tap_name(port_id: str) -> str:
    """The host end of a port's veth, Neutron's Linux bridge convention."""
    return "tap" + port_id[:11]


def vxlan_name(vni: int) -> str:
    return f"vx{vni}"


def container_netns(pid: int) -> str:
    return f"/proc/{pid}/ns/net"


def run(argv: Sequence[str], netns: str | None = None, stdin: str | None = None) -> str:
    """Run a command, in `netns` (a namespace file) when given; its stdout, or WiringError."""
    command = (["nsenter", f"--net={netns}"] if netns else []) + list(argv)
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, text=True,
                              timeout=_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise WiringError(f"{' '.join(command)}: {error}") from error
    if done.returncode != 0:
        raise WiringError(f"{' '.join(command)} exited {done.returncode}: "
                          f"{(done.stderr or done.stdout).strip()}")
    return done.stdout


def link(name: str, netns: str | None = None) -> dict[str, Any] | None:
    """`ip -details link show` of one device as JSON, or None when there is no such device."""
    try:
        shown = run(["ip", "-j", "-d", "link", "show", "dev", name], netns)
    except WiringError as error:
        if "does not exist" in str(error):
            return None
        raise
    found: list[dict[str, Any]] = json.loads(shown)
    return found[0] if found else None


def _kind(device: dict[str, Any]) -> str:
    return str(device.get("linkinfo", {}).get("info_kind", ""))


def _delete_link(name: str, netns: str | None) -> None:
    try:
        run(["ip", "link", "del", "dev", name], netns)
    except WiringError as error:
        if "does not exist" not in str(error) and "Cannot find device" not in str(error):
            raise


def _quiet_ipv6(names: Iterable[str], netns: str | None) -> None:
    """No host address on a tenant network: the host must not speak IPv6 (RS, MLD) on it."""
    try:
        run(["sysctl", "-q", "-w"] + [f"net.ipv6.conf.{n}.disable_ipv6=1" for n in names],
            netns)
    except WiringError as error:
        if "cannot stat" not in str(error):  # a kernel booted without IPv6 has nothing to quiet
            raise


def check_port(port: Port) -> None:
    """Refuse what the kernel would refuse later, and half-way through."""
    names = (port.bridge, tap_name(port.port_id), port.ifname)
    if any(not name or len(name) > _IFNAMSIZ or "/" in name or " " in name for name in names):
        raise ValueError(f"interface names must be 1-15 characters: {names}")
    if port.network_type not in ("flat", "vxlan"):
        raise ValueError(f"network_type {port.network_type!r}: only flat and vxlan are wired")
    if port.network_type == "vxlan" and not port.segmentation_id:
        raise ValueError("a vxlan port needs its segmentation_id (the VNI)")
    for address in port.addresses:
        ipaddress.ip_interface(address)  # ValueError on anything but CIDR form
    for gateway in port.gateways:
        ipaddress.ip_address(gateway)


def ensure_bridge(bridge: str, mtu: int, host_netns: str | None = None) -> None:
    if link(bridge, host_netns) is None:
        try:
            run(["ip", "link", "add", "name", bridge, "type", "bridge"], host_netns)
        except WiringError as error:
            if "File exists" not in str(error):  # another plug of the same network won
                raise
        _quiet_ipv6([bridge], host_netns)
    run(["ip", "link", "set", "dev", bridge, "mtu", str(mtu), "up"], host_netns)


def _vxlan_matches(device: dict[str, Any], vni: int, underlay: Underlay) -> bool:
    data = device.get("linkinfo", {}).get("info_data", {})
    return bool(data.get("id") == vni and data.get("local") == underlay.local_ip
                and data.get("port") == VXLAN_PORT)


def ensure_vxlan(bridge: str, vni: int, mtu: int, underlay: Underlay,
                 host_netns: str | None = None) -> None:
    """The VXLAN device of a network, on its bridge, flooding to the underlay's peers."""
    name = vxlan_name(vni)
    device = link(name, host_netns)
    if device is not None and not _vxlan_matches(device, vni, underlay):
        _delete_link(name, host_netns)
        device = None
    if device is None:
        argv = ["ip", "link", "add", "name", name, "type", "vxlan", "id", str(vni),
                "local", underlay.local_ip, "dstport", str(VXLAN_PORT)]
        try:
            run(argv + (["dev", underlay.device] if underlay.device else []), host_netns)
        except WiringError as error:
            if "File exists" not in str(error):  # another plug of the same network won
                raise
        _quiet_ipv6([name], host_netns)
    run(["ip", "link", "set", "dev", name, "master", bridge, "mtu", str(mtu), "up"], host_netns)
    set_peers(vni, [p for p in underlay.peers if p != underlay.local_ip], host_netns)


def vxlan_vnis(host_netns: str | None = None) -> list[int]:
    """The VNIs of the VXLAN devices of networks on this host."""
    devices = json.loads(run(["ip", "-j", "-d", "link", "show", "type", "vxlan"], host_netns)
                         or "[]")
    return [int(d["linkinfo"]["info_data"]["id"]) for d in devices
            if d.get("ifname", "").startswith("vx") and "id" in
            d.get("linkinfo", {}).get("info_data", {})]


def _flood_list(name: str, host_netns: str | None) -> set[str]:
    entries = json.loads(run(["bridge", "-j", "fdb", "show", "dev", name], host_netns) or "[]")
    return {e["dst"] for e in entries if e.get("mac") == FLOOD_MAC and "dst" in e}


def set_peers(vni: int, peers: Iterable[str], host_netns: str | None = None) -> None:
    """Make the VXLAN device's flood list exactly `peers` (other hosts; no-op without device)."""
    name = vxlan_name(vni)
    if link(name, host_netns) is None:
        return
    wanted = {str(ipaddress.ip_address(peer)) for peer in peers}
    present = _flood_list(name, host_netns)
    for peer in sorted(present - wanted):
        run(["bridge", "fdb", "del", FLOOD_MAC, "dev", name, "dst", peer], host_netns)
    for peer in sorted(wanted - present):
        run(["bridge", "fdb", "append", FLOOD_MAC, "dev", name, "dst", peer], host_netns)


def _veth_in_place(port: Port, container: str, host_netns: str | None) -> bool:
    """True when the host end exists and its peer is `ifname` in the container; a stale pair
    (the container's sandbox was replaced) or a stranger holding `ifname` is removed."""
    tap = link(tap_name(port.port_id), host_netns)
    inner = link(port.ifname, container)
    if (tap is not None and inner is not None and _kind(inner) == "veth"
            and inner.get("link_index") == tap["ifindex"]
            and tap.get("link_index") == inner["ifindex"]):
        return True
    if tap is not None:
        _delete_link(tap_name(port.port_id), host_netns)
    if inner is not None:
        _delete_link(port.ifname, container)
    return False


def _create_veth(pid: int, port: Port, host_netns: str | None) -> None:
    """One command makes the pair with the peer already in the container under its name."""
    tap = tap_name(port.port_id)
    run(["ip", "link", "add", "name", tap, "mtu", str(port.mtu), "type", "veth",
         "peer", "name", port.ifname, "address", port.mac, "mtu", str(port.mtu),
         "netns", str(pid)], host_netns)
    _quiet_ipv6([tap], host_netns)


def _inside_commands(port: Port, present: Iterable[str]) -> list[str]:
    """`ip -batch` lines that bring the container end to the port's state."""
    dev = port.ifname
    wanted = {str(ipaddress.ip_interface(a)) for a in port.addresses}
    lines = ["link set dev lo up",
             f"link set dev {dev} address {port.mac} mtu {port.mtu} up"]
    lines += [f"address del {a} dev {dev}" for a in sorted(set(present) - wanted)]
    for address in sorted(wanted):
        v6 = ipaddress.ip_interface(address).version == 6
        lines.append(f"address replace {address} dev {dev}" + (" nodad" if v6 else ""))
    if port.ifname == "eth0":  # the default routes follow the first network only
        gateways: dict[int, str] = {ipaddress.ip_address(g).version: g for g in port.gateways}
        for version, default in ((4, "0.0.0.0/0"), (6, "::/0")):
            if version in gateways:
                lines.append(f"route replace {default} via {gateways[version]} dev {dev}")
            elif version == 4:  # a batch flushes IPv4 only; IPv6's is _configure_inside's
                lines.append(f"route flush exact {default} dev {dev}")
    return lines


def _global_addresses(ifname: str, container: str) -> list[str]:
    shown = json.loads(run(["ip", "-j", "address", "show", "dev", ifname], container))
    infos = shown[0].get("addr_info", []) if shown else []
    return [str(ipaddress.ip_interface(f"{i['local']}/{i['prefixlen']}"))
            for i in infos if i.get("scope") == "global"]


def _configure_inside(port: Port, container: str) -> None:
    # Docker disables IPv6 in a --network none container, and a moved device inherits that.
    if any(ipaddress.ip_interface(a).version == 6 for a in port.addresses):
        run(["sysctl", "-q", "-w", f"net.ipv6.conf.{port.ifname}.disable_ipv6=0",
             f"net.ipv6.conf.{port.ifname}.accept_ra=0"], container)
    lines = _inside_commands(port, _global_addresses(port.ifname, container))
    run(["ip", "-batch", "-"], container, stdin="\n".join(lines) + "\n")
    if port.ifname == "eth0" and not any(":" in gateway for gateway in port.gateways):
        run(["ip", "-6", "route", "flush", "exact", "::/0", "dev", port.ifname], container)


def plug(pid: int, port: Port, underlay: Underlay | None = None,
         host_netns: str | None = None) -> None:
    """Wire `port` into the network namespace of process `pid` (a sandbox container's)."""
    check_port(port)
    ensure_bridge(port.bridge, port.mtu, host_netns)
    if port.network_type == "vxlan" and underlay is not None and port.segmentation_id:
        ensure_vxlan(port.bridge, port.segmentation_id, port.mtu, underlay, host_netns)
    container = container_netns(pid)
    if not _veth_in_place(port, container, host_netns):
        _create_veth(pid, port, host_netns)
    tap = tap_name(port.port_id)
    run(["ip", "link", "set", "dev", tap, "master", port.bridge, "mtu", str(port.mtu), "up"],
        host_netns)
    _configure_inside(port, container)


def unplug(port_id: str, host_netns: str | None = None) -> None:
    """Delete the port's host end; the kernel deletes its peer in the container with it."""
    _delete_link(tap_name(port_id), host_netns)


def plugged(pid: int) -> list[str]:
    """The interface names in the network namespace of process `pid`."""
    shown = json.loads(run(["ip", "-j", "link", "show"], container_netns(pid)))
    return [str(device["ifname"]) for device in shown]


def prune_bridge(bridge: str, host_netns: str | None = None) -> None:
    """Delete a network's bridge and its VXLAN device once no other device is on it."""
    if link(bridge, host_netns) is None:
        return
    ports = json.loads(run(["ip", "-j", "-d", "link", "show", "master", bridge], host_netns))
    if any(_kind(device) != "vxlan" for device in ports):
        return
    for device in ports:
        _delete_link(str(device["ifname"]), host_netns)
    _delete_link(bridge, host_netns)


def _nft(pid: int, script: str) -> None:
    try:
        run(["nft", "-f", "-"], container_netns(pid), stdin=script)
    except WiringError as error:
        if any(marker in str(error) for marker in _NO_NFTABLES):
            raise FilteringUnavailable(f"nftables is not usable in the namespace of pid {pid}, "
                                       f"so security groups cannot be enforced: {error}") \
                from error
        raise


def apply_security_groups(pid: int, ifname: str, rules: Sequence[Rule],
                          port_security: bool = True) -> None:
    """Make the filtering of `ifname` in the namespace of process `pid` exactly `rules`, with
    Neutron's semantics (see higgins.agents.netfilter); port_security False: no filtering.
    remote_group_id rules are the caller's to expand into remote_ip_prefix rules first."""
    if port_security:
        _nft(pid, netfilter.ruleset(ifname, rules))
    else:
        _nft(pid, netfilter.removal(ifname))
