"""PURE: Neutron security groups as nftables scripts for a container's network namespace, one
table per interface (inet higgins_<ifname>) replaced in one transaction; netwiring runs them.
No side effects.

Neutron's semantics: stateful (established and related traffic always passes, invalid never);
ingress is denied unless a rule allows it; egress likewise, so a port without egress rules sends
nothing (Neutron's default group carries allow-all egress rules); port_security False means no
filtering at all. IPv6 neighbour discovery and MLD always pass, as in Neutron's own firewalls.
Rules with a remote_group_id are not understood here: the agent expands them into one rule per
member address (remote_ip_prefix) before calling.

What this cannot stop: a process in the container with CAP_NET_ADMIN can rewrite or delete the
table, and one with CAP_NET_RAW can send through an AF_PACKET socket, which netfilter never
sees. So the agent gives containers neither for ports with port security.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

# Neutron's protocol names (neutron_lib.constants.IP_PROTOCOL_MAP) as IP protocol numbers
PROTOCOLS = {
    "ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "hopopt": 0, "icmp": 1, "igmp": 2,
    "ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-icmp": 58, "icmpv6": 58,
    "ipv6-nonxt": 59, "ipv6-opts": 60, "ipv6-route": 43, "ospf": 89, "pgm": 113, "rsvp": 46,
    "sctp": 132, "tcp": 6, "udp": 17, "udplite": 136, "vrrp": 112,
}
_WITH_PORTS = {6, 17, 33, 132, 136}  # tcp, udp, dccp, sctp, udplite
_ICMP = {4: 1, 6: 58}
_FAMILIES = {"IPv4": (4, "ipv4", "ip"), "IPv6": (6, "ipv6", "ip6")}
_IFNAME = re.compile(r"[a-z][a-z0-9_]{0,14}")
# Neighbour discovery and multicast listeners: IPv6 does not work without them
_ND_IN = "nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert, mld-listener-query"
_ND_OUT = ("nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, mld-listener-report, "
           "mld2-listener-report")


@dataclass(frozen=True)
class Rule:
    """A Neutron security-group rule, remote groups already expanded to prefixes."""

    direction: str  # ingress | egress
    ethertype: str  # IPv4 | IPv6
    protocol: str | None  # tcp, udp, icmp, icmpv6, a number, or None (any)
    port_range_min: int | None  # the ICMP type for icmp
    port_range_max: int | None  # the ICMP code for icmp
    remote_ip_prefix: str | None


def table_name(ifname: str) -> str:
    return f"higgins_{ifname}"


def protocol_number(rule: Rule) -> int | None:
    """The IP protocol a rule matches (icmp on IPv6 is ICMPv6, as Neutron has it)."""
    name = (rule.protocol or "").lower()
    if name in ("", "any"):
        return None
    number = int(name) if name.isdigit() else PROTOCOLS.get(name)
    if number is None or not 0 <= number <= 255:
        raise ValueError(f"unknown protocol {rule.protocol!r}")
    version = _FAMILIES[rule.ethertype][0]
    if number in _ICMP.values():
        if version == 4 and number == 58:
            raise ValueError("ICMPv6 in an IPv4 rule")
        return _ICMP[version]
    return number


def _ports(rule: Rule, number: int | None) -> str:
    low, high = rule.port_range_min, rule.port_range_max
    if low is None and high is None:
        return ""
    if number in _ICMP.values():
        keyword = "icmp" if number == 1 else "icmpv6"
        return (f" {keyword} type {low}" if low is not None else "") + (
            f" {keyword} code {high}" if high is not None else "")
    if number not in _WITH_PORTS:
        raise ValueError(f"port ranges need tcp, udp, dccp, sctp or udplite: {rule}")
    bounds = [port for port in (low, high) if port is not None]  # one bound: that one port
    first, last = bounds[0], bounds[-1]
    if not 1 <= first <= last <= 65535:
        raise ValueError(f"bad port range {first}-{last}")
    return f" th dport {first}" if first == last else f" th dport {first}-{last}"


def rule_statement(rule: Rule) -> str:
    """One nft statement accepting what the rule allows."""
    if rule.direction not in ("ingress", "egress") or rule.ethertype not in _FAMILIES:
        raise ValueError(f"direction must be ingress|egress, ethertype IPv4|IPv6: {rule}")
    version, nfproto, address_keyword = _FAMILIES[rule.ethertype]
    parts = [f"meta nfproto {nfproto}"]
    if rule.remote_ip_prefix:
        prefix = ipaddress.ip_network(rule.remote_ip_prefix, strict=False)
        if prefix.version != version:
            raise ValueError(f"{rule.remote_ip_prefix} is not {rule.ethertype}")
        side = "saddr" if rule.direction == "ingress" else "daddr"
        parts.append(f"{address_keyword} {side} {prefix}")
    number = protocol_number(rule)
    if number is not None:
        parts.append(f"meta l4proto {number}")
    return " ".join(parts) + _ports(rule, number) + " accept"


def _chain(name: str, hook: str, match: str, fixed: str, allowed: list[str]) -> list[str]:
    return [f"  chain {name} {{",
            f"    type filter hook {hook} priority filter; policy accept;",
            f"    {match} accept",
            "    ct state established,related accept",
            "    ct state invalid drop",
            f"    icmpv6 type {{ {fixed} }} accept",
            *(f"    {statement}" for statement in allowed),
            "    counter drop",
            "  }"]


def ruleset(ifname: str, rules: Sequence[Rule]) -> str:
    """An nft script replacing the interface's table in one transaction."""
    if not _IFNAME.fullmatch(ifname):
        raise ValueError(f"interface name {ifname!r}")
    table = table_name(ifname)
    ingress = [rule_statement(r) for r in rules if r.direction == "ingress"]
    egress = [rule_statement(r) for r in rules if r.direction == "egress"]
    if len(ingress) + len(egress) != len(rules):
        raise ValueError(f"direction must be ingress or egress: {list(rules)}")
    lines = [f"table inet {table} {{}}", f"delete table inet {table}",  # idempotent replace
             f"table inet {table} {{",
             *_chain("ingress", "input", f'iifname != "{ifname}"', _ND_IN, ingress),
             *_chain("egress", "output", f'oifname != "{ifname}"', _ND_OUT, egress),
             "}"]
    return "\n".join(lines) + "\n"


def removal(ifname: str) -> str:
    """An nft script deleting the interface's table, whether or not it exists."""
    if not _IFNAME.fullmatch(ifname):
        raise ValueError(f"interface name {ifname!r}")
    table = table_name(ifname)
    return f"table inet {table} {{}}\ndelete table inet {table}\n"
