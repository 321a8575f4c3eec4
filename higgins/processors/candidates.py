"""PURE: an index of host views for a long-lived scheduler, so that a placement looks at a few
candidates instead of every host. Hosts are grouped (all, per zone, per label) and, within a
group, bucketed by free memory (powers of two) and kept in rank order; which hosts pass the
filters that look at no claim (requested host, zone, service, runtime, labels) is remembered
per kind of request. It is the scheduler's own mutable cache (no I/O); `Index.place` answers
exactly as placement.place over the same views (tests/unit/test_core_placement.py holds it
to that, the bench at scale)."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from higgins.processors import claims, placement
from higgins.processors.model import HostState
from higgins.processors.placement import HostView, NoValidHost, Placed, Request

Key = tuple[float, str]  # a host's rank (placement.Weights.key): lower is better
Group = tuple[str, ...]  # ("all",), ("zone", zone) or ("label", key, value)
EVERYONE: Group = ("all",)
# the filters that look at the host alone, not at what is claimed on it (a prefix of FILTERS)
STATIC = ("RequestedHostFilter", "AvailabilityZoneFilter", "ComputeFilter", "RuntimeFilter",
          "LabelFilter")


def bucket_of(free_memory_mb: int) -> int:
    """Hosts with 2**(b-1) <= free MiB < 2**b are in bucket b (0: none free): a request of m
    MiB fits no host below bucket m.bit_length() and every host above it."""
    return free_memory_mb.bit_length()


@dataclass(frozen=True)
class Statics:
    """The hosts a kind of request passes every static filter on, or (none) how far the
    furthest host got through them: the position of the filter that stopped it."""

    passing: frozenset[str]
    furthest: int


class Index:
    """The views of a fixed set of hosts, updated as their ledgers move. A host that reports
    another capacity, zone or label, a new host, or a host gone down is a new Index (built
    in O(n log n)). After a placement the caller writes its ledger, then hands it to
    `update`; so are the ledgers other schedulers wrote, and releases, when they are seen."""

    def __init__(self, hosts: Sequence[HostState], ledgers: Mapping[str, claims.Ledger],
                 config: placement.Config = placement.DEFAULT,
                 labels: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.config = config
        self._filters = placement.enabled_filters(config)
        self._position = {name: i for i, (name, _) in enumerate(self._filters)}
        self._static = tuple(f for f in self._filters if f[0] in STATIC)
        self._dynamic = self._filters[len(self._static):]
        given = labels or {}
        self._views = {host.name: placement.view_of(host, ledgers.get(host.name),
                                                    config.ratios, given.get(host.name))
                       for host in hosts}
        self.weights = placement.weights_for(config, self._views.values())
        self._keys = {name: self.weights.key(view) for name, view in self._views.items()}
        self._buckets = {name: bucket_of(v.free.memory_mb) for name, v in self._views.items()}
        self._lists: dict[tuple[Group, int], list[Key]] = {}
        self._groups: dict[str, tuple[Group, ...]] = {}
        self._sizes: dict[Group, int] = {}
        self._where: dict[str, str] = {}
        self._statics: dict[tuple[object, ...], Statics] = {}
        self.lost_claims = 0  # claims refused on a ledger that had moved under the view
        for name, view in self._views.items():
            groups = (EVERYONE, ("zone", view.state.availability_zone),
                      *(("label", *label) for label in view.labels.items()))
            self._groups[name] = groups
            for group in groups:
                self._lists.setdefault((group, self._buckets[name]), []).append(self._keys[name])
                self._sizes[group] = self._sizes.get(group, 0) + 1
            self._where.update(dict.fromkeys(view.claimed, name))
        for ranked in self._lists.values():
            ranked.sort()
        self._top = max(self._buckets.values(), default=0)

    def view(self, host: str) -> HostView:
        return self._views[host]

    def update(self, ledger: claims.Ledger) -> None:
        """A host's ledger moved (a claim made here, a claim another scheduler made, or a
        release)."""
        name = ledger.host
        old = self._views.get(name)
        if old is None:
            return
        view = placement.view_of(old.state, ledger, self.config.ratios, old.labels)
        self._views[name] = view
        for uuid in old.claimed:
            if uuid not in ledger.claims:
                self._where.pop(uuid, None)
        self._where.update(dict.fromkeys(ledger.claims, name))
        before, after = self._keys[name], self.weights.key(view)
        was, now = self._buckets[name], bucket_of(view.free.memory_mb)
        if (before, was) == (after, now):
            return
        self._keys[name], self._buckets[name] = after, now
        self._top = max(self._top, now)
        for group in self._groups[name]:
            ranked = self._lists[(group, was)]
            del ranked[bisect.bisect_left(ranked, before)]
            bisect.insort(self._lists.setdefault((group, now), []), after)

    def place(self, request: Request, ledgers: Mapping[str, claims.Ledger]
              ) -> Placed | NoValidHost:
        """placement.place, over the index: the best candidate whose claim holds on its latest
        ledger in `ledgers`. A claim that no longer fits (the ledger moved under this index's
        view) refreshes that host's view and looks again, so the next best is tried."""
        again = self._where.get(request.uuid)
        if again is not None and again in ledgers:
            held = ledgers[again]
            if held.claims.get(request.uuid) == request.resources:
                return Placed(again, held)
        statics = self._statics_for(request)
        refused: set[str] = set()  # hosts whose claim failed in this placement
        for _ in range(len(self._views) + 1):
            best = self._best(request, statics.passing, refused) if statics.passing else None
            if best is None:
                return self._failure(request, statics, ledgers, bool(refused))
            name = best.state.name
            got = placement.claim_on(request, best, ledgers.get(name), self.config)
            if isinstance(got, claims.Ledger):
                return Placed(name, got)
            self.lost_claims += 1
            refused.add(name)
            self.update(ledgers.get(name) or claims.Ledger(name))
        return self._failure(request, statics, ledgers, True)

    def _statics_for(self, request: Request) -> Statics:
        """Which hosts pass the static filters (remembered per kind of request)."""
        if request.requested_host is not None and "RequestedHostFilter" in self._position:
            view = self._views.get(request.requested_host)
            furthest = 0 if len(self._views) > (view is not None) else -1
            if view is not None:
                furthest = max(furthest, self._refused_at(request, view, self._static))
            passing = frozenset([view.state.name]) if furthest == len(self._static) and \
                view is not None else frozenset()
            return Statics(passing, furthest)
        kind = (request.availability_zone, request.runtime, tuple(sorted(request.labels.items())))
        known = self._statics.get(kind)
        if known is None:
            known = self._statics[kind] = self._statics_among(request)
        return known

    def _statics_among(self, request: Request) -> Statics:
        group = self._smallest_group(request)
        passing = frozenset(name for _, name in self._ranked(group, 0)
                            if self._refused_at(request, self._views[name], self._static)
                            == len(self._static))
        if passing:
            return Statics(passing, len(self._static))
        furthest = max((self._refused_at(request, view, self._static)
                        for view in self._views.values()), default=-1)
        return Statics(passing, furthest)

    def _smallest_group(self, request: Request) -> Group:
        """The smallest group that holds every host the static filters could pass."""
        choices = [EVERYONE]
        if request.availability_zone and "AvailabilityZoneFilter" in self._position:
            choices.append(("zone", request.availability_zone))
        if "LabelFilter" in self._position:
            choices += [("label", *label) for label in request.labels.items()]
        return min(choices, key=lambda group: self._sizes.get(group, 0))

    def _ranked(self, group: Group, lowest: int) -> Iterable[Key]:
        for bucket in range(lowest, self._top + 1):
            yield from self._lists.get((group, bucket), ())

    def _best(self, request: Request, passing: frozenset[str], refused: set[str]
              ) -> HostView | None:
        """The best-ranked host that every filter passes. Its free memory puts it in a bucket
        the request fits; each bucket is in rank order, so a bucket is left at its first
        host ranked after the best so far. No host weighing less than the request itself
        fits it (weights growing with what is free): spread stops there, pack starts there."""
        if request.same_host and "SameHostFilter" in self._position:
            near = {self._where[uuid] for uuid in request.same_host if uuid in self._where}
            fitting = [self._views[name] for name in near & passing if name not in refused
                       and self._refused_at(request, self._views[name], self._dynamic)
                       == len(self._dynamic)]
            return min(fitting, key=self.weights.key) if fitting else None
        group = self._smallest_group(request)
        filtered = self._filtered_resources(request.resources)  # what the filters hold it to
        bound = self.weights.least_weight_fitting(filtered)
        lowest = bucket_of(filtered.memory_mb)
        buckets = range(lowest, self._top + 1)
        descending = self.weights.descending
        best: tuple[Key, HostView] | None = None
        for bucket in reversed(buckets) if descending else buckets:
            ranked = self._lists.get((group, bucket))
            if not ranked:
                continue
            start = bisect.bisect_left(ranked, (bound,)) if bound is not None and \
                not descending else 0
            found = self._first_fitting(request, passing, refused, ranked, start,
                                        best[0] if best else None, bound)
            if found is not None:
                best = found
        return best[1] if best else None

    def _filtered_resources(self, wanted: claims.Resources) -> claims.Resources:
        """The request's resources whose filters are on (a host lacking one whose filter is
        off passes the filters, and is refused by the claim, as in placement.place)."""
        on = self._position
        return claims.Resources(
            wanted.millicpu if claims.Resource.CPU.value in on else 0,
            wanted.memory_mb if claims.Resource.MEMORY.value in on else 0,
            wanted.disk_gb if claims.Resource.DISK.value in on else 0)

    def _first_fitting(self, request: Request, passing: frozenset[str], refused: set[str],
                       ranked: list[Key], start: int, better_than: Key | None,
                       bound: float | None) -> tuple[Key, HostView] | None:
        stop = -bound if bound is not None and self.weights.descending else None
        dynamic = self._dynamic
        for index in range(start, len(ranked)):
            key = ranked[index]
            if (better_than is not None and key >= better_than) or \
                    (stop is not None and key[0] > stop):
                return None
            if key[1] not in passing or key[1] in refused:
                continue
            view = self._views[key[1]]
            if all(accepts(request, view) for _, accepts in dynamic):
                return key, view
        return None

    def _refused_at(self, request: Request, view: HostView,
                    filters: Sequence[tuple[str, placement.Filter]]) -> int:
        """The position in `filters` of the first that refuses the host (len: none does)."""
        for position, (_, accepts) in enumerate(filters):
            if not accepts(request, view):
                return position
        return len(filters)

    def _failure(self, request: Request, statics: Statics,
                 ledgers: Mapping[str, claims.Ledger], lost: bool) -> Placed | NoValidHost:
        """The failure placement.place gives over every host: its filters run in order, so
        the one named is the furthest any host got; when hosts pass them all (`lost`: claims
        were refused on them), the claims are tried in rank order as there. Hosts that fail
        a static filter are known per kind of request; only the others are looked at."""
        if not self._views:
            return NoValidHost(placement.NO_HOSTS)
        if not statics.passing:
            return NoValidHost(placement.no_host_left(self._filters[statics.furthest][0]))
        furthest = len(self._static) + self._furthest_dynamic(request, statics.passing, lost)
        if furthest < len(self._filters):
            return NoValidHost(placement.no_host_left(self._filters[furthest][0]))
        passed = [view for view in self._views.values()  # every candidate's claim was lost
                  if self._refused_at(request, view, self._filters) == len(self._filters)]
        return placement.claim_first(request, sorted(passed, key=self.weights.key), ledgers,
                                     self.config)

    def _furthest_dynamic(self, request: Request, passing: frozenset[str], lost: bool) -> int:
        """How far through the filters on claims (hints, then resources, in that order) the
        furthest of the `passing` hosts gets. A hint names a few containers, so a few hosts:
        every other host fails SameHostFilter, or passes DifferentHostFilter."""
        position = {name: i for i, (name, _) in enumerate(self._dynamic)}

        def holding(uuids: tuple[str, ...]) -> set[str]:
            return {self._where[uuid] for uuid in uuids if uuid in self._where} & passing

        if request.same_host and "SameHostFilter" in position:
            near = holding(request.same_host)
            floor = position["SameHostFilter"] if len(passing) > len(near) else -1
            return max([floor, *(self._refused_at(request, self._views[name], self._dynamic)
                                 for name in near)])
        far = holding(request.different_host) if "DifferentHostFilter" in position else set()
        if far and len(far) == len(passing):
            return position["DifferentHostFilter"]  # every host holds one of them
        furthest = -1
        for name in passing - far if far else passing:
            furthest = max(furthest, self._refused_at(request, self._views[name],
                                                      self._dynamic))
            if furthest >= len(self._dynamic) - (0 if lost else 1):
                break  # none passes them all (_best found none), so none gets further
        return furthest
