"""PURE: choose a host for a container or a capsule: filters, then weighers, over host views
(each host's capacity minus what its ledger holds), then a claim on the best host, or on the
next best when the ledger moved under the view (claims.py keeps the arithmetic)."""

from __future__ import annotations

import datetime
import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from higgins.processors import claims
from higgins.processors.model import CapsuleState, ContainerState, HostState

NO_HOSTS = "No valid host was found. There are no hosts reporting."


def no_host_left(filter_name: str) -> str:
    return f"No valid host was found. Filter {filter_name} returned 0 hosts."


@dataclass(frozen=True)
class Placement:
    host: str


@dataclass(frozen=True)
class Placed:
    """The chosen host and its ledger with the claim in it (to be written over its
    version - 1 where ledgers are stored)."""

    host: str
    ledger: claims.Ledger


@dataclass(frozen=True)
class Release:
    """A claim to take off a host's ledger (written conditionally, as a claim is)."""

    host: str
    uuid: str


def new_claims(choice: Placed, held: Mapping[str, claims.Ledger]) -> tuple[claims.Ledger, ...]:
    """What a placement has to write: the chosen host's ledger if the claim changed it, nothing
    when the claim was there already (placed again on a redelivery)."""
    before = held.get(choice.host)
    return () if before is not None and before.version == choice.ledger.version \
        else (choice.ledger,)


@dataclass(frozen=True)
class NoValidHost:
    reason: str


@dataclass(frozen=True)
class Request:
    """What one placement asks for: a container, or a capsule's members summed as one unit."""

    uuid: str
    resources: claims.Resources = claims.NOTHING
    runtime: str = "runc"
    availability_zone: str | None = None
    requested_host: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)  # Zun's hints "label:<key>"
    same_host: tuple[str, ...] = ()  # on a host holding one of these (Nova's SameHostFilter)
    different_host: tuple[str, ...] = ()  # on no host holding any of these


@dataclass(frozen=True)
class HostView:
    """A host as placement sees it: its state, capacity, what is free under the allocation
    ratios (never below zero), what is claimed there by uuid, and its labels."""

    state: HostState
    capacity: claims.Resources
    free: claims.Resources
    claimed: Mapping[str, claims.Resources]
    labels: Mapping[str, str]

    @property
    def name(self) -> str:
        return self.state.name


def _uuids(given: Any) -> tuple[str, ...]:
    items = given.split(",") if isinstance(given, str) else list(given or ())
    return tuple(str(item).strip() for item in items if str(item).strip())


def hinted(request: Request, hints: Mapping[str, Any]) -> Request:
    """The request with Zun's scheduler hints: `label:<key>` = value for the LabelFilter,
    `same_host` / `different_host` = container uuids (a list, or comma-separated)."""
    labels = {key.removeprefix("label:"): str(value) for key, value in hints.items()
              if key.startswith("label:")}
    return Request(request.uuid, request.resources, request.runtime,
                   request.availability_zone, request.requested_host,
                   {**request.labels, **labels},
                   request.same_host + _uuids(hints.get("same_host")),
                   request.different_host + _uuids(hints.get("different_host")))


def container_request(state: ContainerState) -> Request:
    """A container's request: its cpu, memory and disk, zone, host and hints. A capsule's
    member claims nothing of its own: its capsule claimed the members' sum on the host it
    asks for."""
    own = claims.NOTHING if state.capsule_id else \
        claims.Resources.of(state.cpu, state.memory, state.disk)
    return hinted(Request(state.uuid, own, availability_zone=state.availability_zone or None,
                          requested_host=state.requested_host), state.hints)


def capsule_request(capsule: CapsuleState) -> Request:
    """A capsule is placed as one unit: its members' cpu and memory summed, in its zone."""
    return Request(capsule.uuid, claims.Resources.of(capsule.cpu, capsule.memory),
                   availability_zone=capsule.availability_zone or None)


def view_of(host: HostState, ledger: claims.Ledger | None, ratios: claims.Ratios,
            labels: Mapping[str, str] | None = None) -> HostView:
    capacity = claims.capacity_of(host.cpus, host.memory_mb, host.disk_total_gb)
    held = ledger if ledger is not None else claims.Ledger(host.name)
    room = claims.limit_of(capacity, ratios) - held.used
    free = claims.Resources(max(room.millicpu, 0), max(room.memory_mb, 0), max(room.disk_gb, 0))
    return HostView(host, capacity, free, held.claims,
                    labels if labels is not None else host.labels)


def views_of(hosts: Sequence[HostState], ledgers: Mapping[str, claims.Ledger],
             ratios: claims.Ratios) -> list[HostView]:
    return [view_of(host, ledgers.get(host.name), ratios) for host in hosts]


Filter = Callable[[Request, HostView], bool]


def _requested_host(request: Request, host: HostView) -> bool:
    return request.requested_host is None or host.state.name == request.requested_host


def _in_zone(request: Request, host: HostView) -> bool:
    return not request.availability_zone or \
        host.state.availability_zone == request.availability_zone


def _service_up(request: Request, host: HostView) -> bool:
    return host.state.schedulable


def _has_runtime(request: Request, host: HostView) -> bool:
    return request.runtime in host.state.runtimes


def _has_labels(request: Request, host: HostView) -> bool:
    return all(host.labels.get(key) == value for key, value in request.labels.items())


def near_enough(request: Request, claimed: Mapping[str, object]) -> bool:
    """same_host: one of them is here (Nova's SameHostFilter); no hint: anywhere."""
    return not request.same_host or any(uuid in claimed for uuid in request.same_host)


def far_enough(request: Request, claimed: Mapping[str, object]) -> bool:
    """different_host: none of them is here (Nova's DifferentHostFilter)."""
    return not any(uuid in claimed for uuid in request.different_host)


def _fits_cpu(request: Request, host: HostView) -> bool:
    wanted = request.resources.millicpu  # and never more than the host has (no ratio)
    return wanted <= host.free.millicpu and wanted <= host.capacity.millicpu


def _fits_memory(request: Request, host: HostView) -> bool:
    wanted = request.resources.memory_mb
    return wanted <= host.free.memory_mb and wanted <= host.capacity.memory_mb


def _fits_disk(request: Request, host: HostView) -> bool:
    wanted = request.resources.disk_gb
    return wanted <= host.free.disk_gb and wanted <= host.capacity.disk_gb


FILTERS: tuple[tuple[str, Filter], ...] = (
    ("RequestedHostFilter", _requested_host),
    ("AvailabilityZoneFilter", _in_zone),
    ("ComputeFilter", _service_up),
    ("RuntimeFilter", _has_runtime),
    ("LabelFilter", _has_labels),
    ("SameHostFilter", lambda request, host: near_enough(request, host.claimed)),
    ("DifferentHostFilter", lambda request, host: far_enough(request, host.claimed)),
    (claims.Resource.CPU.value, _fits_cpu),
    (claims.Resource.MEMORY.value, _fits_memory),
    (claims.Resource.DISK.value, _fits_disk),
)
FILTER_NAMES = tuple(name for name, _ in FILTERS)
# each weigher weighs one resource's free amount (Nova's names and multiplier options)
WEIGHERS = {"RAMWeigher": claims.Resource.MEMORY, "CPUWeigher": claims.Resource.CPU,
            "DiskWeigher": claims.Resource.DISK}


class Strategy(enum.StrEnum):
    SPREAD = "spread"  # the most free first: containers spread over the hosts
    PACK = "pack"  # the least free that fits first: hosts fill one after another


@dataclass(frozen=True)
class Config:
    """[scheduler]: the filters on, the weighers and their multipliers, spread or pack, and
    the allocation ratios claims are held to."""

    filters: tuple[str, ...] = FILTER_NAMES
    weighers: tuple[str, ...] = ("RAMWeigher", "CPUWeigher")
    strategy: Strategy = Strategy.SPREAD
    ram_weight_multiplier: float = 1.0
    cpu_weight_multiplier: float = 1.0
    disk_weight_multiplier: float = 1.0
    ratios: claims.Ratios = claims.Ratios()
    # seconds a host stays down before its Unknown containers that want it are made again
    # elsewhere (processors/healing.py; a negative value: only once an admin forced it down)
    heal_after: float = 300.0

    def multiplier(self, resource: claims.Resource) -> float:
        return {claims.Resource.MEMORY: self.ram_weight_multiplier,
                claims.Resource.CPU: self.cpu_weight_multiplier,
                claims.Resource.DISK: self.disk_weight_multiplier}[resource]


DEFAULT = Config()


def enabled_filters(config: Config) -> tuple[tuple[str, Filter], ...]:
    return tuple((name, accepts) for name, accepts in FILTERS if name in config.filters)


@dataclass(frozen=True)
class Weights:
    """Weight per unit of free cpu, memory and disk: each enabled weigher's multiplier over the
    largest limit among the hosts (so each weigher counts 0..1, as Nova normalizes), and the
    sign of the strategy. A host's rank is its own: the same whatever the other candidates."""

    millicpu: float
    memory_mb: float
    disk_gb: float
    descending: bool  # spread: the highest weight first

    def weigh(self, free: claims.Resources) -> float:
        return (self.memory_mb * free.memory_mb + self.millicpu * free.millicpu
                + self.disk_gb * free.disk_gb)

    def key(self, host: HostView) -> tuple[float, str]:
        """The rank of a host: lower is better; the name breaks ties (deterministic)."""
        weight = self.weigh(host.free)
        return (-weight if self.descending else weight, host.state.name)

    def least_weight_fitting(self, request: claims.Resources) -> float | None:
        """No host the request fits weighs less than this (every weight being >= 0, the
        weight only grows with what is free), or None when a weight is negative."""
        if min(self.millicpu, self.memory_mb, self.disk_gb) < 0:
            return None
        return self.weigh(request)


def weights_for(config: Config, hosts: Iterable[HostView]) -> Weights:
    largest = claims.NOTHING
    for host in hosts:
        limit = claims.limit_of(host.capacity, config.ratios)
        largest = claims.Resources(max(largest.millicpu, limit.millicpu),
                                   max(largest.memory_mb, limit.memory_mb),
                                   max(largest.disk_gb, limit.disk_gb))
    per_unit = {resource: 0.0 for resource in claims.Resource}
    for name in config.weighers:
        resource = WEIGHERS[name]
        per_unit[resource] = config.multiplier(resource) / max(largest.amount(resource), 1)
    return Weights(per_unit[claims.Resource.CPU], per_unit[claims.Resource.MEMORY],
                   per_unit[claims.Resource.DISK], config.strategy is Strategy.SPREAD)


def filtered(request: Request, hosts: Sequence[HostView],
             filters: Sequence[tuple[str, Filter]]) -> list[HostView] | NoValidHost:
    """The hosts every filter passes, or the failure naming the filter that left none."""
    if not hosts:
        return NoValidHost(NO_HOSTS)
    candidates = list(hosts)
    for name, accepts in filters:
        candidates = [h for h in candidates if accepts(request, h)]
        if not candidates:
            return NoValidHost(no_host_left(name))
    return candidates


def claim_on(request: Request, host: HostView, ledger: claims.Ledger | None,
             config: Config) -> claims.Ledger | str:
    """The claim on the host's latest ledger (the view the host was chosen by may be older),
    or the name of the filter that refuses it now: the hints (where their filters are on)
    are checked again against the latest ledger, as the resources always are."""
    latest = ledger if ledger is not None else claims.Ledger(host.state.name)
    if "SameHostFilter" in config.filters and not near_enough(request, latest.claims):
        return "SameHostFilter"
    if "DifferentHostFilter" in config.filters and not far_enough(request, latest.claims):
        return "DifferentHostFilter"
    got = claims.claim(latest, request.uuid, request.resources, host.capacity, config.ratios)
    return got.resource.value if isinstance(got, claims.Refused) else got


def claim_first(request: Request, ranked: Iterable[HostView],
                ledgers: Mapping[str, claims.Ledger], config: Config) -> Placed | NoValidHost:
    """Claim on the best host; when its ledger moved and the claim no longer fits, on the
    next best, and so on. None left: the filter that refused the last claim is named."""
    refused = FILTER_NAMES[-1]
    for host in ranked:
        got = claim_on(request, host, ledgers.get(host.state.name), config)
        if isinstance(got, claims.Ledger):
            return Placed(host.state.name, got)
        refused = got
    return NoValidHost(no_host_left(refused))


def already_placed(request: Request, ledgers: Mapping[str, claims.Ledger]) -> Placed | None:
    """A request whose claim a ledger holds already (a retry after the claim was written
    and before its event was) is placed there again, with nothing claimed twice."""
    for ledger in ledgers.values():
        if ledger.claims.get(request.uuid) == request.resources:
            return Placed(ledger.host, ledger)
    return None


def place(request: Request, hosts: Sequence[HostView],
          ledgers: Mapping[str, claims.Ledger], config: Config = DEFAULT
          ) -> Placed | NoValidHost:
    """Zun's filter scheduler with claims: every filter must pass, then the best weight
    whose claim holds on its latest ledger wins. candidates.Index answers the same, faster."""
    again = already_placed(request, ledgers)
    if again is not None:
        return again
    passed = filtered(request, hosts, enabled_filters(config))
    if isinstance(passed, NoValidHost):
        return passed
    weights = weights_for(config, hosts)
    return claim_first(request, sorted(passed, key=weights.key), ledgers, config)


def as_seen_at(hosts: Sequence[HostState], at: str, down_after: float) -> list[HostState]:
    """The hosts as a placement at time `at` sees them: one whose agent has not reported for
    `down_after` seconds before then is down, as if forced down (Zun's ComputeFilter skips
    services that are not up). A report after `at` counts: the host is there now."""
    moment = datetime.datetime.fromisoformat(at)
    horizon = datetime.timedelta(seconds=down_after)

    def stale(host: HostState) -> bool:
        return moment - datetime.datetime.fromisoformat(host.reported_at) > horizon

    return [host.evolve(forced_down=True) if stale(host) else host for host in hosts]


def select_host(request: ContainerState, hosts: Sequence[HostState],
                config: Config = DEFAULT) -> Placement | NoValidHost:
    """The host for a container, nothing claimed on any host yet."""
    choice = place(container_request(request), views_of(hosts, {}, config.ratios), {}, config)
    return choice if isinstance(choice, NoValidHost) else Placement(choice.host)
