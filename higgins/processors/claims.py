"""PURE: host ledgers: what is claimed on each host (cpu, memory, disk per container uuid),
and the claim that never lets the sum pass the host's capacity times its allocation ratio."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field


class Resource(enum.StrEnum):
    """What a claim counts; the values are the filters that check them (the failure names)."""

    CPU = "CPUFilter"
    MEMORY = "RamFilter"
    DISK = "DiskFilter"


@dataclass(frozen=True)
class Resources:
    """An amount of each resource, in integers so that sums are exact: CPUs in thousandths
    (Zun's cpu is a float of CPUs), memory in MiB, disk in GB."""

    millicpu: int = 0
    memory_mb: int = 0
    disk_gb: int = 0

    @classmethod
    def of(cls, cpu: float | None, memory_mb: int | None, disk_gb: int | None = None
           ) -> Resources:
        """A container's request; an unset limit claims nothing (Docker does not bound it)."""
        return cls(round((cpu or 0) * 1000), memory_mb or 0, disk_gb or 0)

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.millicpu + other.millicpu, self.memory_mb + other.memory_mb,
                         self.disk_gb + other.disk_gb)

    def __sub__(self, other: Resources) -> Resources:
        return Resources(self.millicpu - other.millicpu, self.memory_mb - other.memory_mb,
                         self.disk_gb - other.disk_gb)

    def amount(self, resource: Resource) -> int:
        if resource is Resource.CPU:
            return self.millicpu
        return self.memory_mb if resource is Resource.MEMORY else self.disk_gb


NOTHING = Resources()


@dataclass(frozen=True)
class Ratios:
    """Allocation ratios, as Nova's cpu/ram/disk_allocation_ratio: how far the claims on a
    host may add up past its capacity. CPU limits are CFS quotas (a crowded host throttles);
    memory past the host's is the OOM killer, so it stays at 1.0 unless an operator says."""

    cpu: float = 4.0
    ram: float = 1.0
    disk: float = 1.0


def capacity_of(cpus: float, memory_mb: int, disk_gb: int) -> Resources:
    """A host's reported capacity in claim units."""
    return Resources(round(cpus * 1000), memory_mb, disk_gb)


def limit_of(capacity: Resources, ratios: Ratios) -> Resources:
    """What the claims on a host may add up to: capacity times ratio, rounded down."""
    return Resources(math.floor(capacity.millicpu * ratios.cpu),
                     math.floor(capacity.memory_mb * ratios.ram),
                     math.floor(capacity.disk_gb * ratios.disk))


@dataclass(frozen=True)
class Ledger:
    """One host's claims by container (or capsule) uuid, their sum, and a version that every
    change bumps: a store writes a new ledger only over the version it was made from."""

    host: str
    claims: Mapping[str, Resources] = field(default_factory=dict)
    used: Resources = NOTHING
    version: int = 0


@dataclass(frozen=True)
class Refused:
    """A claim that does not fit: the resource short (named by its filter) and by how much."""

    host: str
    resource: Resource
    wanted: int
    free: int

    @property
    def reason(self) -> str:
        return (f"{self.resource} refused the claim on host {self.host}: "
                f"{self.wanted} wanted, {self.free} free.")


def shortfall(request: Resources, free: Resources, capacity: Resources
              ) -> tuple[Resource, int, int] | None:
    """The first resource the request does not fit in, if any. A request never over-commits
    against itself: it fits within the capacity too, whatever the ratio (as Nova's
    CoreFilter). A resource it does not ask for is no obstacle, even on a host already past
    its limit (one that re-reported less than it had)."""
    for resource in Resource:
        wanted = request.amount(resource)
        if wanted and (wanted > free.amount(resource) or wanted > capacity.amount(resource)):
            return resource, wanted, free.amount(resource)
    return None


def claim(ledger: Ledger, uuid: str, request: Resources, capacity: Resources,
          ratios: Ratios) -> Ledger | Refused:
    """The ledger with `uuid`'s claim in it, or why not. The same claim again is the same
    ledger (its version too): a retried scheduling changes nothing. A different claim for a
    uuid already there replaces it (a resize), checked without the old one."""
    held = ledger.claims.get(uuid)
    if held == request:
        return ledger
    used = ledger.used - held if held is not None else ledger.used
    short = shortfall(request, limit_of(capacity, ratios) - used, capacity)
    if short is not None:
        return Refused(ledger.host, *short)
    return Ledger(ledger.host, {**ledger.claims, uuid: request}, used + request,
                  ledger.version + 1)


def release(ledger: Ledger, uuid: str) -> Ledger:
    """The ledger without `uuid`'s claim; the same ledger when it held none."""
    held = ledger.claims.get(uuid)
    if held is None:
        return ledger
    rest = {key: value for key, value in ledger.claims.items() if key != uuid}
    return Ledger(ledger.host, rest, ledger.used - held, ledger.version + 1)


def adjust(ledger: Ledger, uuid: str, request: Resources) -> Ledger:
    """The ledger with `uuid`'s claim set to what it has now (a resize the host applied),
    whatever is free: it counts what is on the host. The same ledger when `uuid` holds no
    claim there, or holds that one already."""
    held = ledger.claims.get(uuid)
    if held is None or held == request:
        return ledger
    return Ledger(ledger.host, {**ledger.claims, uuid: request}, ledger.used - held + request,
                  ledger.version + 1)
