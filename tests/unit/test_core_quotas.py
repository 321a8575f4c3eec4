"""Quotas, the pure part: which limit applies, what is in use, how changes are admitted against
the usage counters, and how allocations settle against the views."""

from __future__ import annotations

from higgins.processors import quotas
from higgins.processors.model import ContainerState, Status
from higgins.processors.quotas import Allocation, Defaults

DEFAULTS = Defaults()
NOW = 1_000_000.0


def view(uuid: str, cpu: float | None = None, memory: int | None = None) -> ContainerState:
    return ContainerState(uuid=uuid, seq=1, project_id="p", user_id="u", name=uuid,
                          image="busybox:local", status=Status.RUNNING,
                          created_at="2026-11-29T00:00:00+00:00", cpu=cpu, memory=memory)


def held(cpu: float, memory: int, age: float = 0.0) -> Allocation:
    return Allocation(cpu, memory, 0, NOW - age)


def test_a_projects_own_limit_beats_the_default_class_which_beats_the_configured_default() -> None:
    limits = quotas.effective_limits(DEFAULTS, {"cpu": 8, "memory": 1024}, {"cpu": 4})
    assert limits == {"containers": 40, "memory": 1024, "cpu": 4, "disk": 100}


def test_zuns_defaults_are_the_configured_ones() -> None:
    assert quotas.class_limits(DEFAULTS, {}) == {
        "containers": 40, "memory": 51200, "cpu": 20, "disk": 100}


def test_a_container_without_limits_is_charged_zuns_default_cpu_and_memory() -> None:
    assert quotas.charge(None, None, DEFAULTS, NOW) == Allocation(1.0, 512, 0, NOW)
    assert quotas.charge(0.5, 64, DEFAULTS, NOW) == Allocation(0.5, 64, 0, NOW)


LIMITS = {"containers": 2, "memory": 1000, "cpu": 6, "disk": 100}
UNLIMITED = dict.fromkeys(quotas.RESOURCES, -1)


def test_usage_sums_the_allocations() -> None:
    used = quotas.usage([held(0.1, 64), held(0.2, 128)])
    assert used.as_dict() == {"containers": 2, "memory": 192, "cpu": 0.3, "disk": 0}


def test_overs_names_every_resource_past_its_limit_sorted_and_minus_one_is_unlimited() -> None:
    used = quotas.usage([held(3, 600), held(3, 600)])
    limits = {"containers": 1, "memory": 1000, "cpu": 6, "disk": 100}
    assert quotas.overs(used, limits) == ["containers", "memory"]
    assert quotas.overs(used, {**limits, "containers": -1, "memory": -1}) == []


def test_changes_are_admitted_in_order_until_the_quota_is_full() -> None:
    changes = [quotas.Change(f"c{n}", held(1, 100), LIMITS) for n in range(4)]
    admitted = quotas.admit(quotas.Usage(), dict.fromkeys(["c0", "c1", "c2", "c3"]), changes)
    assert admitted.refusals == [[], [], ["containers"], ["containers"]]
    assert admitted.usage == quotas.Usage(2, 2.0, 200, 0)
    assert admitted.held == {"c0": held(1, 100), "c1": held(1, 100), "c2": None, "c3": None}


def test_a_resize_replaces_the_containers_allocation_rather_than_adding_one() -> None:
    admitted = quotas.admit(quotas.Usage(1, 1.0, 512, 0), {"a": held(1, 512)},
                            [quotas.Change("a", held(2, 1024), UNLIMITED)])
    assert admitted.usage == quotas.Usage(1, 2.0, 1024, 0)


def test_a_change_that_does_not_grow_an_overused_resource_is_admitted() -> None:
    """An admin lowered the limit below what is in use: shrinking must still work."""
    admitted = quotas.admit(quotas.Usage(1, 4.0, 512, 0), {"a": held(4, 512)},
                            [quotas.Change("a", held(2, 512), {**LIMITS, "cpu": 1})])
    assert admitted.refusals == [[]]
    assert admitted.usage.cpu == 2.0


def test_a_release_is_never_refused_and_a_second_one_changes_nothing() -> None:
    release = quotas.Change("a", None)
    first = quotas.admit(quotas.Usage(1, 1.0, 512, 0), {"a": held(1, 512)}, [release])
    assert first.usage == quotas.Usage() and first.changed
    second = quotas.admit(first.usage, {"a": None}, [release])
    assert second.usage == quotas.Usage() and not second.changed


def test_a_change_expecting_another_allocation_is_skipped() -> None:
    settle = quotas.Change("a", None, expects=(held(1, 512, age=600),))
    admitted = quotas.admit(quotas.Usage(1, 2.0, 1024, 0), {"a": held(2, 1024)}, [settle])
    assert admitted.refusals == [[quotas.MOVED]] and not admitted.changed


def test_settling_is_the_changes_from_the_allocations_to_what_the_views_prove() -> None:
    ledger = {"gone": held(1, 512, age=600), "resized": held(4, 4096, age=600)}
    proven = {"resized": held(1, 256, age=600), "missing": held(1, 512)}
    changes = quotas.settling(ledger, proven)
    assert {c.uuid: c.allocation for c in changes} == {
        "gone": None, "resized": held(1, 256, age=600), "missing": held(1, 512)}
    assert all(c.limits is None for c in changes)
    assert {c.uuid: c.expects for c in changes} == {
        "gone": (ledger["gone"],), "resized": (ledger["resized"],), "missing": (None,)}


def test_settling_keeps_young_reservations_whatever_the_views_say() -> None:
    ledger = {"new": held(1, 512, age=5)}
    assert quotas.settled(ledger, [], [], DEFAULTS, NOW) == ledger


def test_settling_drops_an_old_reservation_whose_container_has_no_live_view() -> None:
    ledger = {"gone": held(1, 512, age=600), "live": held(1, 512, age=600)}
    kept = quotas.settled(ledger, [view("live", 1, 512)], [], DEFAULTS, NOW)
    assert set(kept) == {"live"}


def test_settling_counts_an_old_live_containers_view_not_its_stale_reservation() -> None:
    ledger = {"resized": held(4, 4096, age=600)}
    kept = quotas.settled(ledger, [view("resized", 1, 256)], [], DEFAULTS, NOW)
    assert (kept["resized"].cpu, kept["resized"].memory) == (1, 256)


def test_settling_drops_a_deleted_containers_allocation_at_once() -> None:
    ledger = {"deleted": held(1, 512, age=1), "young": held(1, 512, age=1)}
    assert set(quotas.settled(ledger, [], ["deleted"], DEFAULTS, NOW)) == {"young"}


def test_settling_adds_live_containers_the_ledger_never_saw() -> None:
    kept = quotas.settled({}, [view("older", None, None)], [], DEFAULTS, NOW)
    assert (kept["older"].cpu, kept["older"].memory) == (1.0, 512)


def test_an_allocation_survives_its_record_round_trip() -> None:
    allocation = held(0.25, 96, age=3)
    assert Allocation.from_record(allocation.to_record()) == allocation
