"""PURE: per-project quotas as Zun has them (containers, cpu, memory MiB, disk GB).

Usage is a ledger of allocations, one per container uuid, written by compare-and-set so two
API processes cannot both take the last unit. The ledger is kept honest by the views: an
allocation whose container is gone (deleted, or never recorded because its API crashed
between reserving and publishing) stops counting once it is older than a grace period, and an
old allocation of a live container counts what its view says (so a resize that failed or was
cut off settles to the truth)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from higgins.processors.model import ContainerState

RESOURCES = ("containers", "memory", "cpu", "disk")
UNLIMITED = -1
DEFAULT_CLASS = "default"
# A reservation younger than this counts as made, whatever the views say: the API records the
# container's first event and view within its request, well inside a minute.
GRACE_SECONDS = 60.0


@dataclass(frozen=True)
class Defaults:
    """The operator's defaults ([quota] in the INI file) and what a container that asked for
    no cpu or memory limit is charged (Zun charges its default_cpu / default_memory)."""

    containers: int = 40
    cpu: int = 20
    memory: int = 51200
    disk: int = 100
    unset_cpu: float = 1.0
    unset_memory: int = 512

    def limits(self) -> dict[str, int]:
        return {"containers": self.containers, "memory": self.memory, "cpu": self.cpu,
                "disk": self.disk}


@dataclass(frozen=True)
class Allocation:
    """What one container holds against its project's quota."""

    cpu: float
    memory: int
    disk: int
    reserved_at: float  # seconds since the epoch

    def to_record(self) -> list[float]:
        return [self.cpu, self.memory, self.disk, self.reserved_at]

    @classmethod
    def from_record(cls, record: list[float]) -> Allocation:
        cpu, memory, disk, reserved_at = record
        return cls(float(cpu), int(memory), int(disk), float(reserved_at))


def charge(cpu: float | None, memory: int | None, defaults: Defaults,
           now: float) -> Allocation:
    """The allocation of a container asking for `cpu` and `memory` (None: no limit)."""
    return Allocation(defaults.unset_cpu if cpu is None else cpu,
                      defaults.unset_memory if memory is None else memory, 0, now)


def effective_limits(defaults: Defaults, class_limits: Mapping[str, int],
                     project_limits: Mapping[str, int]) -> dict[str, int]:
    """A project's limits: its own, else the `default` quota class's, else the defaults."""
    base = defaults.limits()
    return {name: project_limits.get(name, class_limits.get(name, base[name]))
            for name in RESOURCES}


def class_limits(defaults: Defaults, stored: Mapping[str, int]) -> dict[str, int]:
    base = defaults.limits()
    return {name: stored.get(name, base[name]) for name in RESOURCES}


def usage(ledger: Mapping[str, Allocation]) -> dict[str, float]:
    used: dict[str, float] = {"containers": len(ledger), "memory": 0, "cpu": 0.0, "disk": 0}
    for allocation in ledger.values():
        used["cpu"] += allocation.cpu
        used["memory"] += allocation.memory
        used["disk"] += allocation.disk
    used["cpu"] = round(used["cpu"], 3)
    return used


def overs(ledger: Mapping[str, Allocation], limits: Mapping[str, int]) -> list[str]:
    """The resources whose use in `ledger` exceeds their limit, sorted (Zun's order)."""
    used = usage(ledger)
    return sorted(name for name in RESOURCES
                  if limits[name] != UNLIMITED and used[name] > limits[name])


def with_allocation(ledger: Mapping[str, Allocation], uuid: str,
                    allocation: Allocation) -> dict[str, Allocation]:
    """The ledger once `uuid` holds `allocation` (a create, or a resize replacing the old one)."""
    return {**ledger, uuid: allocation}


def without(ledger: Mapping[str, Allocation], uuid: str) -> dict[str, Allocation]:
    return {key: value for key, value in ledger.items() if key != uuid}


def settled(ledger: Mapping[str, Allocation], live: Iterable[ContainerState],
            deleted: Iterable[str], defaults: Defaults, now: float) -> dict[str, Allocation]:
    """The ledger as the views prove it: a deleted container's allocation is dropped; young
    reservations stand; an old one of a container with no live view is dropped; an old one of
    a live container counts the view's limits; a live container missing from the ledger (made
    before quotas, or a ledger lost) is added."""
    views = {state.uuid: state for state in live}
    gone = set(deleted)
    kept: dict[str, Allocation] = {}
    for uuid, allocation in ledger.items():
        if uuid in gone:
            continue
        if now - allocation.reserved_at < GRACE_SECONDS:
            kept[uuid] = allocation
        elif uuid in views:
            view = views[uuid]
            kept[uuid] = charge(view.cpu, view.memory, defaults, allocation.reserved_at)
    for uuid, view in views.items():
        if uuid not in kept and uuid not in ledger:
            kept[uuid] = charge(view.cpu, view.memory, defaults, now - GRACE_SECONDS)
    return kept
