"""PURE: choose a host for a container: filters, then weighers, over host states."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from higgins.processors.model import ContainerState, HostState


@dataclass(frozen=True)
class Placement:
    host: str


@dataclass(frozen=True)
class NoValidHost:
    reason: str


Filter = Callable[[ContainerState, HostState], bool]


def _fits_cpu(request: ContainerState, host: HostState) -> bool:
    return request.cpu is None or request.cpu <= host.cpus


def _fits_memory(request: ContainerState, host: HostState) -> bool:
    return request.memory is None or request.memory <= host.memory_mb


def _has_runtime(request: ContainerState, host: HostState) -> bool:
    return "runc" in host.runtimes


def _requested_host(request: ContainerState, host: HostState) -> bool:
    return request.requested_host is None or host.name == request.requested_host


def _service_enabled(request: ContainerState, host: HostState) -> bool:
    return host.schedulable


FILTERS: tuple[tuple[str, Filter], ...] = (
    ("RequestedHostFilter", _requested_host),
    ("ComputeFilter", _service_enabled),
    ("RuntimeFilter", _has_runtime),
    ("CPUFilter", _fits_cpu),
    ("RamFilter", _fits_memory),
)


def _weight(host: HostState) -> tuple[float, int, str]:
    # More memory, then more CPUs; the name breaks ties so placement is deterministic.
    return (-host.memory_mb, -int(host.cpus * 1000), host.name)


def as_seen_at(hosts: Sequence[HostState], at: str, down_after: float) -> list[HostState]:
    """The hosts as a placement at time `at` sees them: one whose agent has not reported for
    `down_after` seconds before then is down, as if forced down (Zun's ComputeFilter skips
    services that are not up). A report after `at` counts: the host is there now."""
    moment = datetime.datetime.fromisoformat(at)
    horizon = datetime.timedelta(seconds=down_after)

    def stale(host: HostState) -> bool:
        return moment - datetime.datetime.fromisoformat(host.reported_at) > horizon

    return [host.evolve(forced_down=True) if stale(host) else host for host in hosts]


def select_host(request: ContainerState, hosts: Sequence[HostState]) -> Placement | NoValidHost:
    """Zun's filter scheduler in miniature: every filter must pass, the best weight wins."""
    if not hosts:
        return NoValidHost("No valid host was found. There are no hosts reporting.")
    candidates = list(hosts)
    for name, accepts in FILTERS:
        candidates = [h for h in candidates if accepts(request, h)]
        if not candidates:
            return NoValidHost(f"No valid host was found. Filter {name} returned 0 hosts.")
    return Placement(min(candidates, key=_weight).name)
