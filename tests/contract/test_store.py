"""The Store port's contract, run against every adapter (today: SQLite), plus the catch-up
that API and fold share."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from higgins import folding
from higgins.bus.embedded import EmbeddedBus
from higgins.processors import claims, placement, scheduling
from higgins.processors.claims import Ledger, Resources
from higgins.processors.model import ContainerState, HostState, Status
from higgins.processors.quotas import Allocation, Change, Usage
from higgins.runtime import claiming
from higgins.store.base import Store
from higgins.store.cassandra import CassandraStore
from higgins.store.sqlite import SqliteStore
from tests.contract.conftest import STORES, each_store
from tests.contract.test_bus import envelope


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from each_store(request, tmp_path, CassandraStore.truncate)


CAPACITY = claims.capacity_of(4.0, 1024, 10)


def state(uuid: str = "u1", seq: int = 1, **changes: object) -> ContainerState:
    base = ContainerState(uuid=uuid, seq=seq, project_id="p", user_id="u", name="n",
                          image="busybox:local", status=Status.CREATING,
                          created_at="2026-11-24T00:00:00+00:00", command=("sleep", "1"))
    return base.evolve(**changes)


def test_a_saved_container_loads_back_equal(store: Store) -> None:
    saved = state(environment={"A": "b"}, labels={"x": "y"}, cpu=0.5, memory=64)
    store.save_container(saved)
    assert store.load_container("u1") == saved


def test_the_highest_seq_wins_whatever_the_order_of_saves(store: Store) -> None:
    store.save_container(state(seq=1))
    store.save_container(state(seq=3, status=Status.RUNNING))
    store.save_container(state(seq=2, status=Status.CREATED))
    store.save_container(state(seq=1))
    assert store.load_container("u1") == state(seq=3, status=Status.RUNNING)
    store.save_container(state(seq=4, status=Status.STOPPED, name="renamed"))
    assert [s.name for s in store.find_containers(project_id="p")] == ["renamed"]


def test_hosts_keep_the_highest_seq(store: Store) -> None:
    old = HostState(name="h", seq=2, cpus=2.0, memory_mb=1024, runtimes=("runc",),
                    reported_at="2026-11-24T00:00:00+00:00")
    store.save_host(old)
    store.save_host(dataclasses.replace(old, seq=1, cpus=9.0))
    assert store.list_hosts() == [old]


def test_find_hides_deleted_and_filters_by_project_and_name(store: Store) -> None:
    store.save_container(state("a"))
    store.save_container(state("b", project_id="q"))
    store.save_container(state("c", name="other"))
    store.save_container(state("d", status=Status.DELETED))
    assert [s.uuid for s in store.find_containers()] == ["a", "b", "c"]
    assert [s.uuid for s in store.find_containers(project_id="p", name="n")] == ["a"]


def test_hosts_round_trip(store: Store) -> None:
    host = HostState(name="h", seq=1, cpus=2.0, memory_mb=1024, runtimes=("runc",),
                     reported_at="2026-11-24T00:00:00+00:00")
    store.save_host(host)
    assert store.list_hosts() == [host]


def test_catch_up_folds_what_the_view_has_not_seen(tmp_path: Path, store: Store) -> None:
    bus = EmbeddedBus(tmp_path / "events.db")
    create = envelope("u9", kind="container.create.requested", name="n", image="busybox:local",
                      command=["sleep", "1"])
    bus.publish([create, envelope("u9", kind="container.scheduled", host="h1"),
                 envelope("u9", kind="container.created", container_id="abc")])
    current = folding.current_container(bus, store, "u9")
    assert current is not None and (current.seq, current.status) == (3, Status.CREATED)
    assert store.load_container("u9") == current
    assert folding.current_container(bus, store, "u9") == current
    bus.close()


def test_folds_agree_with_the_log_in_order_with_gaps_and_redeliveries(
        tmp_path: Path, store: Store) -> None:
    bus = EmbeddedBus(tmp_path / "events.db")
    create = envelope("u7", kind="container.create.requested", name="n", image="busybox:local",
                      command=["sleep", "1"])
    recorded = bus.publish([create, envelope("u7", kind="container.scheduled", host="h1"),
                            envelope("u7", kind="container.created", container_id="abc"),
                            envelope("u7", kind="container.started")])
    first, second = folding.Folds(bus, store), folding.Folds(bus, store)
    # A subject first met is folded from the view and the log: the whole backlog at once.
    assert first.container(recorded[0]).seq == 4  # type: ignore[union-attr]
    assert first.container(recorded[1]).seq == 4  # type: ignore[union-attr]  # folded already
    more = bus.publish([envelope("u7", kind="container.stop.requested", timeout=1),
                        envelope("u7", kind="container.stopped", exit_code=0)])
    assert first.container(more[0]).seq == 5  # type: ignore[union-attr]  # the next one
    # `second` has not met u7: it reads, and gets everything up to 6.
    assert second.container(more[0]).status is Status.STOPPED  # type: ignore[union-attr]
    # `first` knows 5 and is handed 6: the next one again.
    assert first.container(more[1]).seq == 6  # type: ignore[union-attr]
    assert store.load_container("u7") == folding.current_container(bus, store, "u7")
    assert store.load_container("u7").seq == 6  # type: ignore[union-attr]
    bus.close()


def test_quota_limits_are_kept_per_scope_and_cleared_whole(store: Store) -> None:
    store.set_quota_limits("project:p", {"containers": 5, "cpu": 2})
    store.set_quota_limits("project:p", {"cpu": 3})
    store.set_quota_limits("class:default", {"memory": 1024})
    assert store.quota_limits("project:p") == {"containers": 5, "cpu": 3}
    store.clear_quota_limits("project:p")
    assert store.quota_limits("project:p") == {}
    assert store.quota_limits("class:default") == {"memory": 1024}


def test_allocations_and_usage_change_together(store: Store) -> None:
    one, two = Allocation(0.5, 64, 0, 1.0), Allocation(1.0, 512, 0, 2.0)
    assert store.quota_usage("p") == Usage()
    assert store.change_allocations("p", [Change("a", one), Change("b", two)]) == [[], []]
    assert store.quota_usage("p") == Usage(2, 1.5, 576, 0)
    assert store.allocation("p", "a") == one
    assert store.allocations("p") == {"a": one, "b": two}
    assert store.change_allocations("p", [Change("a", None)]) == [[]]
    assert store.allocation("p", "a") is None
    assert store.quota_usage("p") == Usage(1, 1.0, 512, 0)
    assert store.quota_projects() == ["p"]


def test_a_change_past_the_limit_is_refused_and_the_rest_of_its_step_applies(
        store: Store) -> None:
    limits = {"containers": 2, "memory": -1, "cpu": -1, "disk": -1}
    wanted = [Change(f"c{n}", Allocation(1, 1, 0, 0), limits) for n in range(3)]
    assert store.change_allocations("p", wanted) == [[], [], ["containers"]]
    assert sorted(store.allocations("p")) == ["c0", "c1"]
    assert store.change_allocations("p", [Change("c0", None), wanted[2]]) == [[], []]
    assert sorted(store.allocations("p")) == ["c1", "c2"]


def test_concurrent_changes_take_exactly_the_quota(store: Store) -> None:
    limits = {"containers": 5, "memory": -1, "cpu": -1, "disk": -1}
    answers: list[list[str]] = []
    start = threading.Barrier(12)

    def add(uuid: str) -> None:
        start.wait()
        answers.extend(store.change_allocations("p", [Change(uuid, Allocation(1, 1, 0, 0),
                                                              limits)]))

    threads = [threading.Thread(target=add, args=(f"c{n}",)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(map(tuple, answers)) == [()] * 5 + [("containers",)] * 7
    assert len(store.allocations("p")) == 5
    assert store.quota_usage("p").containers == 5


def _another(store: Store, tmp_path: Path) -> Store:
    """A second process's view of the same database."""
    if isinstance(store, CassandraStore):
        return CassandraStore(["127.0.0.1"], 9042, "higgins_contract")
    return SqliteStore(tmp_path / "views.db")


def test_changes_from_two_processes_are_all_counted(store: Store, tmp_path: Path) -> None:
    other = _another(store, tmp_path)
    limits = {"containers": 3, "memory": -1, "cpu": -1, "disk": -1}
    try:
        for book, uuid in ((store, "a"), (other, "b"), (store, "c"), (other, "d")):
            change = Change(uuid, Allocation(1, 1, 0, 0), limits, fresh=True)
            refused = book.change_allocations("p", [change])
            assert refused == [[] if uuid != "d" else ["containers"]], uuid
        assert store.quota_usage("p").containers == other.quota_usage("p").containers == 3
        assert other.change_allocations("p", [Change("a", None)]) == [[]]
        assert store.change_allocations("p", [Change("e", Allocation(1, 1, 0, 0), limits,
                                                       fresh=True)]) == [[]]
    finally:
        other.close()


def test_a_host_ledger_is_empty_until_claimed_then_loads_back_equal(store: Store) -> None:
    assert store.load_ledger("h1") == Ledger("h1")
    first = claims.claim(Ledger("h1"), "c1", Resources(500, 64, 1), CAPACITY, claims.Ratios())
    assert isinstance(first, Ledger) and first.version == 1
    assert store.claim_ledger("h1", first, 0)
    assert store.load_ledger("h1") == first
    assert store.load_ledgers(["h1", "h2"]) == {"h1": first, "h2": Ledger("h2")}


def test_a_ledger_is_written_only_over_the_version_it_was_made_from(store: Store) -> None:
    first = claims.claim(Ledger("h1"), "c1", Resources(0, 64), CAPACITY, claims.Ratios())
    assert isinstance(first, Ledger) and store.claim_ledger("h1", first, 0)
    assert not store.claim_ledger("h1", first, 0)  # created by someone else meanwhile
    second = claims.release(first, "c1")
    assert store.claim_ledger("h1", second, 1)
    assert not store.claim_ledger("h1", claims.release(first, "c1"), 1)  # stale
    assert store.load_ledger("h1") == second


@pytest.mark.parametrize("expected", [0, 1], ids=["first-claim", "later-claim"])
def test_concurrent_writers_over_the_same_version_exactly_one_wins(
        store: Store, expected: int) -> None:
    if expected:
        held = claims.claim(Ledger("h1"), "old", Resources(0, 64), CAPACITY, claims.Ratios())
        assert isinstance(held, Ledger) and store.claim_ledger("h1", held, 0)
    base = store.load_ledger("h1")
    start = threading.Barrier(8)
    wins: list[str] = []

    def write(uuid: str) -> None:
        mine = claims.claim(base, uuid, Resources(0, 64), CAPACITY, claims.Ratios())
        assert isinstance(mine, Ledger)
        start.wait()
        if store.claim_ledger("h1", mine, base.version):
            wins.append(uuid)

    threads = [threading.Thread(target=write, args=(f"c{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
    stored = store.load_ledger("h1")
    assert stored.version == base.version + 1 and wins[0] in stored.claims


def test_racing_placements_never_claim_past_a_hosts_capacity(store: Store) -> None:
    """Twelve schedulers place 64 MiB each at once on a host with room for five: each lost
    write reads again and places again, so five are placed and seven find no valid host."""
    host = HostState(name="h1", seq=1, cpus=4.0, memory_mb=320, runtimes=("runc",),
                     reported_at="2026-11-24T00:00:00+00:00")
    start = threading.Barrier(12)
    outcomes: list[str] = []

    def place(uuid: str) -> None:
        wanted = state(uuid, memory=64)
        start.wait()
        outcome = claiming.placed(store, [host], lambda ledgers: scheduling.schedule(
            wanted, [host], envelope(uuid, kind="container.create.requested"),
            ledgers=ledgers), claiming.container_failure(uuid))
        outcomes.append(str(outcome.events[0].type))

    threads = [threading.Thread(target=place, args=(f"c{n}",)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["container.failed"] * 7 + ["container.scheduled"] * 5
    assert store.load_ledger("h1").used.memory_mb == 320


def test_a_release_is_written_over_whatever_changed_meanwhile(store: Store) -> None:
    held = claims.claim(Ledger("h1"), "a", Resources(0, 64), CAPACITY, claims.Ratios())
    assert isinstance(held, Ledger) and store.claim_ledger("h1", held, 0)
    more = claims.claim(held, "b", Resources(0, 32), CAPACITY, claims.Ratios())
    assert isinstance(more, Ledger) and store.claim_ledger("h1", more, 1)
    claiming.release(store, placement.Release("h1", "a"))
    claiming.release(store, placement.Release("h1", "a"))  # redelivered: nothing more
    after = store.load_ledger("h1")
    assert (dict(after.claims), after.used, after.version) == (
        {"b": Resources(0, 32)}, Resources(0, 32), 3)
