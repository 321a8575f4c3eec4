"""BENCHMARK: placement decisions per second over a simulation of 10,000 hosts (host views with
random capacities, zones and labels: no Docker, no agents, no bus). A realistic mix of
requests (sizes, zones, labels, same_host / different_host hints, requested hosts, the odd
runtime, capsules placed as one unit, containers leaving) is placed by scheduler replicas that
each see the others' claims late, every placement claimed on one shared set of host ledgers
(the store a real deployment would keep them in, simulated by a dict). Afterwards a count of
its own (the bench's arithmetic on what it asked, not the claim code) checks that no host is
over-committed and every placement kept its constraints; it fails loudly if not. Then the cost
per decision at 100, 1,000 and 10,000 hosts, against the plain scan over every host
(placement.place) on the same requests in the same run, which must choose the same hosts.
Side effects: none (CPU only)."""

from __future__ import annotations

import argparse
import collections
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Protocol

from higgins.processors import candidates, claims, placement
from higgins.processors.claims import Ledger, Resources
from higgins.processors.model import CapsuleState, HostState
from higgins.processors.placement import Config, NoValidHost, Placed, Request, Strategy

TARGET = 5_000  # decisions/s over 10,000 hosts (H7); Kubernetes scheduler_perf: 680-1,100
ZONES = ("az1", "az2", "az3", "az4")
ZONE_SHARES = (40, 30, 20, 10)
RACKS = 50
# (CPUs, MiB) of a container and how common it is
SIZES = ((0.25, 256), (0.5, 512), (1, 1024), (1, 2048), (2, 4096), (4, 8192), (8, 16384))
SIZE_SHARES = (15, 20, 20, 15, 15, 10, 5)
CHURN = 0.1  # a placed container leaves after this share of the decisions


def simulated_fleet(count: int, seed: int
                    ) -> tuple[list[HostState], dict[str, dict[str, str]]]:
    """`count` simulated hosts: 8-64 CPUs, 16-128 GiB, 200-1,000 GB of disk, four zones of
    unequal size, a rack label each, ssd on 40 %, gpu on 3 %, kata beside runc on 10 %;
    2 % disabled and 1 % forced down."""
    rng = random.Random(seed)
    hosts: list[HostState] = []
    labels: dict[str, dict[str, str]] = {}
    for number in range(count):
        name = f"sim-{number:05d}"
        hosts.append(HostState(
            name=name, seq=1, cpus=rng.choice((8, 16, 32, 64)),
            memory_mb=rng.choice((16, 32, 64, 128)) * 1024,
            disk_total_gb=rng.choice((200, 500, 1000)),
            runtimes=("runc", "kata") if rng.random() < 0.1 else ("runc",),
            availability_zone=rng.choices(ZONES, ZONE_SHARES)[0],
            reported_at="2026-12-02T00:00:00+00:00",
            disabled=rng.random() < 0.02, forced_down=rng.random() < 0.01))
        labels[name] = {"rack": f"r{number % RACKS:02d}",
                        **({"ssd": "true"} if rng.random() < 0.4 else {}),
                        **({"gpu": "true"} if rng.random() < 0.03 else {})}
    return hosts, labels


@dataclass(frozen=True)
class Asked:
    """One request as the simulated user made it, with the bench's own sums of it (CPUs as
    exact fractions of what was asked, MiB, GB) for the check afterwards."""

    request: Request
    cpu: Fraction
    memory_mb: int
    disk_gb: int


class Workload:
    """The requests, drawn from one seed: the same sequence whatever places them."""

    def __init__(self, seed: int, hosts: Sequence[HostState]) -> None:
        self.rng = random.Random(seed)
        self.names = [host.name for host in hosts]
        self.count = 0

    def next(self, recent: Sequence[str]) -> Asked:
        self.count += 1
        uuid = f"req-{self.count:07d}"
        asked = self._capsule(uuid) if self.rng.random() < 0.05 else self._container(uuid)
        return Asked(self._constrained(asked.request, recent), asked.cpu, asked.memory_mb,
                     asked.disk_gb)

    def _size(self) -> tuple[float | None, int]:
        cpu, memory = self.rng.choices(SIZES, SIZE_SHARES)[0]
        return (None if self.rng.random() < 0.1 else cpu), memory

    def _container(self, uuid: str) -> Asked:
        cpu, memory = self._size()
        disk = 0 if self.rng.random() < 0.7 else self.rng.choice((5, 10, 20, 50))
        return Asked(Request(uuid, Resources.of(cpu, memory, disk)),
                     Fraction(str(cpu or 0)), memory, disk)

    def _capsule(self, uuid: str) -> Asked:
        """A capsule of 2-4 members, placed as one unit through the real capsule request."""
        members = [self._size() for _ in range(self.rng.randint(2, 4))]
        capsule = CapsuleState(
            uuid=uuid, seq=1, project_id="p", user_id="u", name=uuid,
            created_at="2026-12-02T00:00:00+00:00",
            containers=tuple({"uuid": f"{uuid}-{i}", "cpu": cpu, "memory": memory}
                             for i, (cpu, memory) in enumerate(members)))
        return Asked(placement.capsule_request(capsule),
                     sum((Fraction(str(cpu or 0)) for cpu, _ in members), Fraction(0)),
                     sum(memory for _, memory in members), 0)

    def _constrained(self, request: Request, recent: Sequence[str]) -> Request:
        rng = self.rng
        zone = rng.choices(ZONES, ZONE_SHARES)[0] if rng.random() < 0.25 else None
        roll = rng.random()
        labels = ({"ssd": "true"} if roll < 0.10 else {"gpu": "true"} if roll < 0.11 else
                  {"rack": f"r{rng.randrange(RACKS):02d}"} if roll < 0.15 else {})
        roll = rng.random()
        different = tuple(rng.sample(recent, min(len(recent), rng.randint(1, 3)))) \
            if roll < 0.05 and recent else ()
        same = (rng.choice(recent),) if 0.05 <= roll < 0.08 and recent else ()
        host = rng.choice(self.names) if rng.random() < 0.005 else None
        runtime = "kata" if rng.random() < 0.02 else "runc"
        return Request(request.uuid, request.resources, runtime,
                       zone or request.availability_zone, host, labels, same, different)


class Scheduler(Protocol):
    def place(self, request: Request, ledgers: Mapping[str, Ledger]) -> Placed | NoValidHost:
        ...

    def update(self, ledger: Ledger) -> None:
        ...


class Scan:
    """The baseline: placement.place over every host's view, views kept up to date."""

    def __init__(self, hosts: Sequence[HostState], ledgers: Mapping[str, Ledger],
                 config: Config, labels: Mapping[str, Mapping[str, str]]) -> None:
        self.config = config
        self.views = {h.name: placement.view_of(h, ledgers.get(h.name), config.ratios,
                                                labels[h.name]) for h in hosts}

    def place(self, request: Request, ledgers: Mapping[str, Ledger]) -> Placed | NoValidHost:
        return placement.place(request, list(self.views.values()), ledgers, self.config)

    def update(self, ledger: Ledger) -> None:
        old = self.views[ledger.host]
        self.views[ledger.host] = placement.view_of(old.state, ledger, self.config.ratios,
                                                    old.labels)


@dataclass
class Simulation:
    """Scheduler replicas over one set of ledgers. Each sees its own claims at once and the
    others' (and the releases) every `sync` of its decisions, or when a claim of its own is
    lost on a ledger that moved."""

    replicas: list[Scheduler]
    sync: int
    ledgers: dict[str, Ledger] = field(default_factory=dict)
    placed: dict[str, tuple[str, Asked]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # placed uuids, oldest first
    changed: list[str] = field(default_factory=list)  # hosts whose ledger was written
    cursors: list[int] = field(default_factory=list)
    failures: collections.Counter[str] = field(default_factory=collections.Counter)
    choices: list[str] = field(default_factory=list)  # host or reason, per decision
    released: int = 0
    seconds: float = 0.0  # spent in the schedulers: place, update, catching up

    def decide(self, number: int, asked: Asked) -> None:
        replica = self.replicas[number % len(self.replicas)]
        began = time.perf_counter()
        if not self.cursors:
            self.cursors = [0] * len(self.replicas)
        if number // len(self.replicas) % self.sync == 0:
            self._catch_up(number % len(self.replicas))
        got = replica.place(asked.request, self.ledgers)
        if isinstance(got, Placed):
            self.ledgers[got.host] = got.ledger  # the store's write (one writer here)
            replica.update(got.ledger)
        self.seconds += time.perf_counter() - began
        if isinstance(got, Placed):
            self.changed.append(got.host)
            self.placed[asked.request.uuid] = (got.host, asked)
            self.order.append(asked.request.uuid)
            self.choices.append(got.host)
        else:
            self.failures[got.reason] += 1
            self.choices.append(got.reason)

    def _catch_up(self, which: int) -> None:
        for host in set(self.changed[self.cursors[which]:]):
            self.replicas[which].update(self.ledgers[host])
        self.cursors[which] = len(self.changed)

    def release(self, rng: random.Random) -> None:
        """A container leaves: its claim is released (as the fold of its deletion would)."""
        while self.order:
            uuid = self.order.pop(rng.randrange(len(self.order)))
            if uuid in self.placed:
                host, _ = self.placed.pop(uuid)
                self.ledgers[host] = claims.release(self.ledgers[host], uuid)
                self.changed.append(host)
                self.released += 1
                return

    def recent(self) -> list[str]:
        return self.order[-1000:]


Labels = Mapping[str, Mapping[str, str]]
Making = Callable[[Sequence[HostState], Mapping[str, Ledger], Config, Labels], Scheduler]


def run(hosts: Sequence[HostState], labels: Labels, decisions: int, make: Making,
        config: Config, replicas: int = 1, sync: int = 1, seed: int = 1) -> Simulation:
    """`decisions` requests of the workload placed by `replicas` schedulers `make` makes."""
    workload = Workload(seed, hosts)
    churn = random.Random(seed + 1)
    simulation = Simulation([make(hosts, {}, config, labels) for _ in range(replicas)], sync)
    for number in range(decisions):
        simulation.decide(number, workload.next(simulation.recent()))
        if churn.random() < CHURN:
            simulation.release(churn)
    return simulation


def over_commitments(hosts: Sequence[HostState], placed: Mapping[str, tuple[str, Asked]],
                     ratios: claims.Ratios) -> list[str]:
    """Hosts whose placements add up past capacity x ratio, summed here from what was asked
    (exact fractions of CPUs), not by the claim code."""
    cpu: dict[str, Fraction] = collections.defaultdict(Fraction)
    memory: dict[str, int] = collections.defaultdict(int)
    disk: dict[str, int] = collections.defaultdict(int)
    for host, asked in placed.values():
        cpu[host] += asked.cpu
        memory[host] += asked.memory_mb
        disk[host] += asked.disk_gb
    problems = []
    for h in hosts:
        if cpu[h.name] > Fraction(str(h.cpus)) * Fraction(str(ratios.cpu)) or \
                memory[h.name] > h.memory_mb * Fraction(str(ratios.ram)) or \
                disk[h.name] > h.disk_total_gb * Fraction(str(ratios.disk)):
            problems.append(f"{h.name} over-committed: {float(cpu[h.name])} of {h.cpus} CPUs, "
                            f"{memory[h.name]} of {h.memory_mb} MiB, {disk[h.name]} of "
                            f"{h.disk_total_gb} GB (ratios cpu {ratios.cpu}, ram {ratios.ram}, "
                            f"disk {ratios.disk})")
    return problems


def broken_constraints(hosts: Sequence[HostState], labels: Mapping[str, Mapping[str, str]],
                       placed: Mapping[str, tuple[str, Asked]]) -> list[str]:
    """Placements that broke what they asked for (checked here, not by the filters)."""
    by_name = {h.name: h for h in hosts}
    problems = []
    for uuid, (name, asked) in placed.items():
        host, request = by_name[name], asked.request
        where = [placed[other][0] for other in request.same_host if other in placed]
        kept = (host.schedulable and request.runtime in host.runtimes
                and request.availability_zone in (None, host.availability_zone)
                and request.requested_host in (None, name)
                and all(labels[name].get(k) == v for k, v in request.labels.items())
                and asked.cpu <= Fraction(str(host.cpus)) and asked.memory_mb <= host.memory_mb
                and not any(placed[other][0] == name for other in request.different_host
                            if other in placed)
                and (not request.same_host or len(where) < len(request.same_host)
                     or name in where))
        if not kept:
            problems.append(f"{uuid} on {name} broke its request {request}")
    return problems


def leaks(simulation: Simulation) -> list[str]:
    """Claims a ledger holds for no placement, and placements no ledger holds."""
    held = {(ledger.host, uuid) for ledger in simulation.ledgers.values()
            for uuid in ledger.claims}
    wanted = {(host, uuid) for uuid, (host, _) in simulation.placed.items()}
    return ([f"{uuid} held on {host} but not placed there" for host, uuid in held - wanted]
            + [f"{uuid} placed on {host} but not held there" for host, uuid in wanted - held])


def checked(simulation: Simulation, hosts: Sequence[HostState],
            labels: Mapping[str, Mapping[str, str]], ratios: claims.Ratios) -> int:
    """The independent check; 1 and every problem printed when anything is wrong."""
    problems = (over_commitments(hosts, simulation.placed, ratios)
                + broken_constraints(hosts, labels, simulation.placed) + leaks(simulation))
    for problem in problems[:20]:
        print(f"  CHECK FAILED: {problem}")
    if problems:
        print(f"  CHECK FAILED: {len(problems)} problems")
        return 1
    print(f"  check: no host over-committed ({len(hosts):,} hosts, "
          f"{len(simulation.placed):,} claims held; sums of what was asked <= capacity x "
          f"ratio: cpu {ratios.cpu}, ram {ratios.ram}, disk {ratios.disk}), every placement "
          f"kept its zone, labels, runtime, requested host and hints, ledgers hold exactly "
          f"the placements")
    return 0


def report(label: str, simulation: Simulation, decisions: int) -> float:
    rate = decisions / simulation.seconds
    failed = sum(simulation.failures.values())
    lost = sum(getattr(replica, "lost_claims", 0) for replica in simulation.replicas)
    print(f"  {label}: {decisions:,} decisions in {simulation.seconds:.2f} s = {rate:,.0f} "
          f"decisions/s ({1e6 / rate:.1f} us each); placed {decisions - failed:,}, no valid "
          f"host {failed:,}, claims lost to a moved ledger and tried on the next host "
          f"{lost:,}, released {simulation.released:,}")
    for reason, count in simulation.failures.most_common():
        print(f"    {count:7,}  {reason}")
    return rate


def headline(args: argparse.Namespace, strategy: Strategy) -> int:
    """The 10,000-host run: replicas, rate, and the independent check."""
    config = Config(strategy=strategy)
    hosts, labels = simulated_fleet(args.hosts, args.seed)
    began = time.perf_counter()
    candidates.Index(hosts, {}, config, labels)
    built = time.perf_counter() - began
    simulation = run(hosts, labels, args.placements, candidates.Index, config,
                     args.schedulers, args.sync, args.seed)
    rate = report(f"{strategy}, {args.schedulers} schedulers (each catching up every "
                  f"{args.sync} of its decisions), index built in {built * 1000:.0f} ms",
                  simulation, args.placements)
    verdict = "met" if rate >= TARGET else "NOT met"
    print(f"  H7 target >= {TARGET:,} decisions/s over {args.hosts:,} hosts: {verdict}")
    return checked(simulation, hosts, labels, config.ratios)


def scaling(args: argparse.Namespace) -> int:
    """us/decision at each size: the index over hosts x 10 decisions, and the scan over the
    first of them, which must choose what the index chose."""
    config = Config()
    print("  hosts | decisions | index us/decision | scan us/decision (first n) | scan/index")
    for size in args.sizes:
        hosts, labels = simulated_fleet(size, args.seed)
        decisions = size * 10
        index = run(hosts, labels, decisions, candidates.Index, config, seed=args.seed)
        first = max(50, min(decisions, args.scan_budget // size))
        scan = run(hosts, labels, first, Scan, config, seed=args.seed)
        if scan.choices != index.choices[:first]:
            print(f"  CHECK FAILED: at {size} hosts the index and the scan chose differently")
            return 1
        per_index = index.seconds / decisions * 1e6
        per_scan = scan.seconds / first * 1e6
        print(f"  {size:6,} | {decisions:9,} | {per_index:17.1f} | {per_scan:12.1f} "
              f"({first:,}) | {per_scan / per_index:8.0f}x")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="higgins bench placement", description=__doc__)
    parser.add_argument("--hosts", type=int, default=10_000, help="simulated hosts")
    parser.add_argument("--placements", type=int, default=100_000,
                        help="decisions in the headline run")
    parser.add_argument("--strategy", default="spread,pack",
                        help="comma-separated, of spread,pack (the headline run of each)")
    parser.add_argument("--schedulers", type=int, default=2,
                        help="scheduler replicas sharing the ledgers")
    parser.add_argument("--sync", type=int, default=50,
                        help="a replica catches up with the ledgers every N of its decisions")
    parser.add_argument("--sizes", default="100,1000,10000",
                        help="fleet sizes for the cost per decision")
    parser.add_argument("--scan-budget", type=int, default=2_000_000,
                        help="host views the baseline scan may look at per size")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args([a for a in argv if a != "placement"])
    args.sizes = [int(size) for size in args.sizes.split(",") if size]
    print(f"placement over a simulation of {args.hosts:,} hosts (no Docker): {args.placements:,} "
          f"requests, 5 % capsules, 25 % with a zone, 15 % with a label, 8 % with hints, "
          f"{CHURN:.0%} churn; default [scheduler] options")
    failed = 0
    for strategy in args.strategy.split(","):
        failed |= headline(args, Strategy(strategy))
    print("cost per decision (1 scheduler, spread), against the scan over every host:")
    failed |= scaling(args)
    return failed
