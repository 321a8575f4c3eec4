"""PURE: per-project quotas as Zun has them (containers, cpu, memory MiB, disk GB).

What a project uses is kept as counters (`Usage`) beside one allocation per container uuid, and
both change together in one atomic step (`admit`): a create costs the same whatever the project
holds. Concurrent requests of one project are combined into one such step, so two API processes
cannot both take the last unit, and none waits on a whole ledger. The allocations are kept
honest by the views in the background (`settled`): an allocation whose container is gone
(deleted, or never recorded because its API crashed between reserving and publishing) stops
counting once it is older than a grace period, and an old allocation of a live container counts
what its view says (so a resize that failed or was cut off settles to the truth)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from higgins.processors.model import ContainerState

RESOURCES = ("containers", "memory", "cpu", "disk")
UNLIMITED = -1
MOVED = "moved"  # a refusal: the allocation was not what the change expected
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


@dataclass(frozen=True)
class Usage:
    """What a project holds: the sum of its allocations, kept as counters."""

    containers: int = 0
    cpu: float = 0.0
    memory: int = 0
    disk: int = 0

    def as_dict(self) -> dict[str, float]:
        return {"containers": self.containers, "memory": self.memory,
                "cpu": round(self.cpu, 3), "disk": self.disk}

    def moved(self, before: Allocation | None, after: Allocation | None) -> Usage:
        """The usage once one container goes from holding `before` to holding `after`."""
        out, into = before or _NOTHING, after or _NOTHING
        return Usage(self.containers + (after is not None) - (before is not None),
                     round(self.cpu + into.cpu - out.cpu, 6),
                     self.memory + into.memory - out.memory,
                     self.disk + into.disk - out.disk)


_NOTHING = Allocation(0.0, 0, 0, 0.0)


def usage(allocations: Iterable[Allocation]) -> Usage:
    total = Usage()
    for allocation in allocations:
        total = total.moved(None, allocation)
    return total


def overs(used: Usage, limits: Mapping[str, int]) -> list[str]:
    """The resources whose use exceeds their limit, sorted (Zun's order)."""
    amounts = used.as_dict()
    return sorted(name for name in RESOURCES
                  if limits[name] != UNLIMITED and amounts[name] > limits[name])


@dataclass(frozen=True)
class Change:
    """Container `uuid` is to hold `allocation` (None: nothing). With `limits`, the change is
    refused if it grows a resource past its limit; without (a release, a restore, a settle),
    it always applies."""

    uuid: str
    allocation: Allocation | None
    limits: Mapping[str, int] | None = None
    # (what the change expects `uuid` to hold now,): a settle made from an older read must
    # not undo a reservation that came in between; skipped if the allocation moved
    expects: tuple[Allocation | None] | None = None
    fresh: bool = False  # `uuid` was made by this request: it holds nothing yet (no read)


@dataclass(frozen=True)
class Admitted:
    usage: Usage
    held: dict[str, Allocation | None]  # every uuid the changes touched, as it now stands
    refusals: list[list[str]]  # per change, in order: the resources over quota ([] = applied)
    changed: bool  # anything to write


def admit(used: Usage, held: Mapping[str, Allocation | None],
          changes: Sequence[Change]) -> Admitted:
    """Apply `changes` in order to a project's usage and the allocations they touch (`held`:
    each touched uuid's current allocation or None). A refused change changes nothing."""
    now = dict(held)
    refusals: list[list[str]] = []
    for change in changes:
        if change.expects is not None and change.expects[0] != now.get(change.uuid):
            refusals.append([MOVED])
            continue
        after = used.moved(now.get(change.uuid), change.allocation)
        refused = [] if change.limits is None else _grown_overs(used, after, change.limits)
        refusals.append(refused)
        if not refused:
            used = after
            now[change.uuid] = change.allocation
    return Admitted(used, now, refusals, now != dict(held))


def _grown_overs(before: Usage, after: Usage, limits: Mapping[str, int]) -> list[str]:
    """Resources over their limit that this change makes bigger (an admin may have lowered a
    limit below what is in use: that alone must not block a change that does not add to it)."""
    old, new = before.as_dict(), after.as_dict()
    return [name for name in overs(after, limits) if new[name] > old[name]]


def settled(ledger: Mapping[str, Allocation], live: Iterable[ContainerState],
            deleted: Iterable[str], defaults: Defaults, now: float) -> dict[str, Allocation]:
    """A project's allocations (`ledger`) as the views prove it: a deleted container's
    allocation is dropped; young reservations stand; an old one of a container with no live
    view is dropped; an old one of a live container counts the view's limits; a live
    container missing from the allocations (made before quotas, or lost) is added."""
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


def settling(ledger: Mapping[str, Allocation], proven: Mapping[str, Allocation]) -> list[Change]:
    """The unchecked changes that take `ledger` to `proven` (see `settled`)."""
    dropped = [Change(uuid, None, expects=(held,)) for uuid, held in ledger.items()
               if uuid not in proven]
    moved = [Change(uuid, allocation, expects=(ledger.get(uuid),))
             for uuid, allocation in proven.items() if ledger.get(uuid) != allocation]
    return [*dropped, *moved]
