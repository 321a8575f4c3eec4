"""The host side of Neutron ports (higgins.agents.netwiring) on real kernel objects: busybox
containers with no network of Docker's get ports on Linux bridges, and over VXLAN between two
"hosts" (network namespaces made here, joined by a veth underlay on 10.99.0.0/24); the security
groups are nftables tables inside the containers' namespaces. Needs root.
Commands "in a container" run through nsenter in its network and mount namespaces (its busybox
ping and nc), which is faster than `docker exec` and leaves no process behind."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from higgins.agents import netfilter, netwiring
from higgins.agents.netwiring import Port, Rule, Underlay
from tests.integration.conftest import wait_for

pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(os.geteuid() != 0, reason="plugging ports needs root"),
]

DOCKER = "/usr/bin/docker"
MTU = 1450
EGRESS_ANY = (Rule("egress", "IPv4", None, None, None, None),
              Rule("egress", "IPv6", None, None, None, None))


@dataclass(frozen=True)
class Sandbox:
    cid: str
    pid: int


def sh(*argv: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def start_sandbox() -> Sandbox:
    started = sh(DOCKER, "run", "-d", "--network", "none", "busybox:local", "sleep", "300",
                 timeout=60)
    assert started.returncode == 0, started.stderr
    cid = started.stdout.strip()
    pid = sh(DOCKER, "inspect", "-f", "{{.State.Pid}}", cid).stdout.strip()
    return Sandbox(cid, int(pid))


def inside(box: Sandbox, *argv: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    """A command of the container's own busybox, in its network namespace."""
    return sh("nsenter", "-t", str(box.pid), "-n", "-m", *argv, timeout=timeout)


def ip_json(box: Sandbox, *argv: str) -> Any:
    return json.loads(sh("nsenter", "-t", str(box.pid), "-n", "ip", "-j", *argv).stdout)


def global_addresses(box: Sandbox, ifname: str = "eth0") -> set[tuple[str, int]]:
    [device] = ip_json(box, "address", "show", "dev", ifname)
    return {(a["local"], a["prefixlen"]) for a in device["addr_info"] if a["scope"] == "global"}


def pings(box: Sandbox, address: str) -> bool:
    return inside(box, "ping", "-c", "1", "-W", "1", address).returncode == 0


def connects(box: Sandbox, address: str, port: int) -> bool:
    return inside(box, "sh", "-c", f"echo hi | nc -w 1 {address} {port}").returncode == 0


def listening(box: Sandbox, port: int) -> bool:
    shown = sh("nsenter", "-t", str(box.pid), "-n", "ss", "-Hltn", f"sport = :{port}")
    return bool(shown.stdout.strip())


@pytest.fixture(scope="module")
def boxes() -> Iterator[list[Sandbox]]:
    with ThreadPoolExecutor(2) as pool:
        started = list(pool.map(lambda _: start_sandbox(), range(2)))
    yield started
    sh(DOCKER, "rm", "-f", *(box.cid for box in started), timeout=60)


Plug = Callable[..., Port]


@pytest.fixture
def network(boxes: list[Sandbox]) -> Iterator[Plug]:
    """plug(box, host_octet, **changes) on a fresh bridge (10.97.0.0/24, fd97::/64); every port,
    the bridge and the containers' filter tables go at the end."""
    bridge, ports = f"hg-t{uuid.uuid4().hex[:8]}", []

    def plug(box: Sandbox, octet: int, **changes: Any) -> Port:
        port = Port(**{**dict(
            port_id=str(uuid.uuid4()), mac=f"fa:16:3e:97:00:{octet:02x}", mtu=MTU,
            bridge=bridge, network_type="vxlan", segmentation_id=1977,
            addresses=(f"10.97.0.{octet}/24", f"fd97::{octet}/64"),
            gateways=("10.97.0.254", "fd97::fe")), **changes})
        netwiring.plug(box.pid, port)
        ports.append((box, port))
        return port

    yield plug
    for box, port in ports:
        netwiring.unplug(port.port_id)
        netwiring.apply_security_groups(box.pid, port.ifname, [], port_security=False)
    netwiring.prune_bridge(bridge)


def test_two_containers_on_one_bridge_ping_each_other_by_fixed_ips(
        boxes: list[Sandbox], network: Plug) -> None:
    network(boxes[0], 1)
    network(boxes[1], 2)
    assert wait_for(lambda: pings(boxes[0], "10.97.0.2"), 5, "IPv4 ping a -> b")
    assert wait_for(lambda: pings(boxes[1], "fd97::1"), 5, "IPv6 ping b -> a")


def test_the_namespace_gets_mac_mtu_addresses_and_default_routes(
        boxes: list[Sandbox], network: Plug) -> None:
    network(boxes[0], 1)
    [eth0] = ip_json(boxes[0], "address", "show", "dev", "eth0")
    assert (eth0["address"], eth0["mtu"], eth0["operstate"]) == ("fa:16:3e:97:00:01", MTU, "UP")
    assert global_addresses(boxes[0]) == {("10.97.0.1", 24), ("fd97::1", 64)}
    assert [r["gateway"] for r in ip_json(boxes[0], "-4", "route", "show", "default")] \
        == ["10.97.0.254"]
    assert [r["gateway"] for r in ip_json(boxes[0], "-6", "route", "show", "default")] \
        == ["fd97::fe"]


def test_the_host_end_is_a_tap_on_the_bridge(boxes: list[Sandbox], network: Plug) -> None:
    port = network(boxes[0], 1)
    tap = netwiring.link(netwiring.tap_name(port.port_id))
    assert tap is not None and tap["master"] == port.bridge and tap["mtu"] == MTU
    bridge = netwiring.link(port.bridge)
    assert bridge is not None and bridge["mtu"] == MTU and "UP" in bridge["flags"]


def test_replug_keeps_the_veth_and_restores_what_drifted(
        boxes: list[Sandbox], network: Plug) -> None:
    port = network(boxes[0], 1)
    before = netwiring.link(netwiring.tap_name(port.port_id))
    sh("nsenter", "-t", str(boxes[0].pid), "-n", "ip", "address", "flush", "dev", "eth0")
    netwiring.plug(boxes[0].pid, port)
    after = netwiring.link(netwiring.tap_name(port.port_id))
    assert before is not None and after is not None and before["ifindex"] == after["ifindex"]
    assert global_addresses(boxes[0]) == {("10.97.0.1", 24), ("fd97::1", 64)}
    assert [r["gateway"] for r in ip_json(boxes[0], "-4", "route", "show", "default")] \
        == ["10.97.0.254"]


def test_replug_with_new_fixed_ips_and_no_gateway_replaces_them(
        boxes: list[Sandbox], network: Plug) -> None:
    port = network(boxes[0], 1)
    changed = Port(**{**port.__dict__, "addresses": ("10.97.0.9/24",), "gateways": ()})
    netwiring.plug(boxes[0].pid, changed)
    assert global_addresses(boxes[0]) == {("10.97.0.9", 24)}
    assert ip_json(boxes[0], "route", "show", "default") == []
    assert ip_json(boxes[0], "-6", "route", "show", "default") == []


def test_a_second_port_is_eth1_without_default_routes(
        boxes: list[Sandbox], network: Plug) -> None:
    network(boxes[0], 1)
    network(boxes[0], 3, ifname="eth1", addresses=("10.98.0.3/24",), gateways=("10.98.0.1",))
    assert netwiring.plugged(boxes[0].pid) == ["lo", "eth0", "eth1"]
    assert [r["dev"] for r in ip_json(boxes[0], "route", "show", "default")] == ["eth0"]


def test_unplug_removes_both_ends_and_repeats_harmlessly(
        boxes: list[Sandbox], network: Plug) -> None:
    port = network(boxes[0], 1)
    netwiring.unplug(port.port_id)
    netwiring.unplug(port.port_id)
    assert netwiring.link(netwiring.tap_name(port.port_id)) is None
    assert netwiring.plugged(boxes[0].pid) == ["lo"]


def test_prune_removes_the_bridge_only_once_its_last_tap_is_gone(
        boxes: list[Sandbox], network: Plug) -> None:
    first, second = network(boxes[0], 1), network(boxes[1], 2)
    netwiring.unplug(first.port_id)
    netwiring.prune_bridge(first.bridge)
    assert netwiring.link(first.bridge) is not None
    netwiring.unplug(second.port_id)
    netwiring.prune_bridge(first.bridge)
    netwiring.prune_bridge(first.bridge)
    assert netwiring.link(first.bridge) is None


@pytest.fixture
def two_hosts() -> Iterator[tuple[str, str]]:
    """Two network namespaces joined by a veth underlay: 10.99.0.1 and 10.99.0.2."""
    names = [f"hgnw{uuid.uuid4().hex[:8]}" for _ in range(2)]
    try:
        for name in names:
            assert sh("ip", "netns", "add", name).returncode == 0
        made = sh("ip", "link", "add", "ul0", "netns", names[0], "type", "veth",
                  "peer", "name", "ul0", "netns", names[1])
        assert made.returncode == 0, made.stderr
        for index, name in enumerate(names, start=1):
            sh("ip", "-n", name, "address", "add", f"10.99.0.{index}/24", "dev", "ul0")
            sh("ip", "-n", name, "link", "set", "ul0", "up")
            sh("ip", "-n", name, "link", "set", "lo", "up")
        yield names[0], names[1]
    finally:
        for name in names:  # its devices go with it, and the veths' peers in the containers
            sh("ip", "netns", "del", name)


def test_containers_behind_two_hosts_reach_each_other_over_vxlan(
        boxes: list[Sandbox], two_hosts: tuple[str, str]) -> None:
    for index, (box, host) in enumerate(zip(boxes, two_hosts, strict=True), start=1):
        port = Port(str(uuid.uuid4()), f"fa:16:3e:96:00:0{index}", MTU, "hg-vxtest", "vxlan",
                    1996, (f"10.96.0.{index}/24",), ())
        underlay = Underlay(f"10.99.0.{index}", "ul0", ("10.99.0.1", "10.99.0.2"))
        netwiring.plug(box.pid, port, underlay, host_netns=f"/run/netns/{host}")
    assert wait_for(lambda: pings(boxes[0], "10.96.0.2"), 5, "ping across VXLAN")
    vxlan = netwiring.link("vx1996", f"/run/netns/{two_hosts[0]}")
    assert vxlan is not None and vxlan["master"] == "hg-vxtest" and vxlan["mtu"] == MTU


def test_set_peers_makes_the_flood_list_exactly_the_peers(two_hosts: tuple[str, str]) -> None:
    host = f"/run/netns/{two_hosts[0]}"
    netwiring.ensure_bridge("hg-peers", MTU, host)
    netwiring.ensure_vxlan("hg-peers", 1995, MTU, Underlay("10.99.0.1", None, ("10.99.0.2",)),
                           host)

    def flood() -> list[str]:
        shown = sh("nsenter", f"--net={host}", "bridge", "-j", "fdb", "show", "dev", "vx1995")
        return sorted(e["dst"] for e in json.loads(shown.stdout or "[]")
                      if e["mac"] == netwiring.FLOOD_MAC)

    assert flood() == ["10.99.0.2"]
    netwiring.set_peers(1995, ["10.99.0.3", "10.99.0.4"], host)
    netwiring.set_peers(1995, ["10.99.0.3", "10.99.0.4"], host)
    assert flood() == ["10.99.0.3", "10.99.0.4"]
    netwiring.set_peers(1995, [], host)
    assert flood() == []


@pytest.fixture
def wired(boxes: list[Sandbox], network: Plug) -> list[Sandbox]:
    network(boxes[0], 1)
    network(boxes[1], 2)
    wait_for(lambda: pings(boxes[0], "10.97.0.2"), 5, "the two containers on one network")
    return boxes


@pytest.fixture
def listeners(boxes: list[Sandbox]) -> Iterator[Callable[[int], None]]:
    """listen(port): a busybox `nc -l -p port` in the second container, until the test ends."""
    started: list[subprocess.Popen[bytes]] = []

    def listen(port: int) -> None:
        started.append(subprocess.Popen(
            ["nsenter", "-t", str(boxes[1].pid), "-n", "-m", "nc", "-l", "-p", str(port)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(lambda: listening(boxes[1], port), 5, f"nc listening on {port}")

    yield listen
    for process in started:
        process.kill()
        process.wait(5)


def test_an_ingress_tcp_rule_admits_its_port_only(
        wired: list[Sandbox], listeners: Callable[[int], None]) -> None:
    a, b = wired
    netwiring.apply_security_groups(
        b.pid, "eth0", [Rule("ingress", "IPv4", "tcp", 8080, 8080, None), *EGRESS_ANY])
    listeners(8080)
    listeners(8081)
    assert connects(a, "10.97.0.2", 8080)
    assert not connects(a, "10.97.0.2", 8081)
    assert not pings(a, "10.97.0.2")


def test_icmp_passes_only_with_an_icmp_rule(wired: list[Sandbox]) -> None:
    a, b = wired
    netwiring.apply_security_groups(b.pid, "eth0", EGRESS_ANY)
    assert not pings(a, "10.97.0.2")
    netwiring.apply_security_groups(
        b.pid, "eth0", [Rule("ingress", "IPv4", "icmp", None, None, "10.97.0.0/24"), *EGRESS_ANY])
    assert pings(a, "10.97.0.2")
    assert not pings(a, "fd97::2")  # the rule is IPv4's


def test_egress_is_blocked_without_egress_rules(wired: list[Sandbox]) -> None:
    a, _ = wired
    netwiring.apply_security_groups(a.pid, "eth0", [])
    assert not pings(a, "10.97.0.2")
    netwiring.apply_security_groups(a.pid, "eth0", [Rule("egress", "IPv4", "icmp", 8, None, None)])
    assert pings(a, "10.97.0.2")  # the echo reply comes back as established


def test_port_security_off_removes_the_filtering(wired: list[Sandbox]) -> None:
    a, b = wired
    netwiring.apply_security_groups(b.pid, "eth0", [])
    netwiring.apply_security_groups(b.pid, "eth0", [], port_security=False)
    netwiring.apply_security_groups(b.pid, "eth0", [], port_security=False)
    assert pings(a, "10.97.0.2") and pings(b, "10.97.0.1")
    listed = sh("nsenter", "-t", str(b.pid), "-n", "nft", "list", "tables").stdout
    assert netfilter.table_name("eth0") not in listed


@pytest.mark.parametrize("rule, statement", [
    (Rule("ingress", "IPv4", "tcp", 8080, 8090, None), "meta nfproto ipv4 meta l4proto 6 "
     "th dport 8080-8090 accept"),
    (Rule("egress", "IPv6", "udp", 53, None, "fd00::/8"), "meta nfproto ipv6 ip6 daddr fd00::/8 "
     "meta l4proto 17 th dport 53 accept"),
    (Rule("ingress", "IPv6", "icmp", 128, 0, None), "meta nfproto ipv6 meta l4proto 58 "
     "icmpv6 type 128 icmpv6 code 0 accept"),
    (Rule("ingress", "IPv4", "112", None, None, "10.0.0.7"), "meta nfproto ipv4 "
     "ip saddr 10.0.0.7/32 meta l4proto 112 accept"),
], ids=["tcp-range", "udp-egress-prefix", "icmp-on-ipv6-is-icmpv6", "numbered-protocol"])
def test_rules_become_nft_statements(rule: Rule, statement: str) -> None:
    assert netfilter.rule_statement(rule) == statement


@pytest.mark.parametrize("rule", [
    Rule("ingress", "IPv4", "icmp", None, None, "fd00::/8"),
    Rule("ingress", "IPv4", None, 80, 80, None),
    Rule("ingress", "IPv4", "ipv6-icmp", None, None, None),
    Rule("sideways", "IPv4", None, None, None, None),
    Rule("ingress", "IPv4", "tcp", 90, 80, None),
], ids=["prefix-of-the-other-family", "ports-without-protocol", "icmpv6-on-ipv4",
        "unknown-direction", "inverted-range"])
def test_rules_neutron_would_refuse_are_refused(rule: Rule) -> None:
    with pytest.raises(ValueError):
        netfilter.rule_statement(rule)
