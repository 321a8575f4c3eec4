"""The AuditLog port's contract (store/base.py), run against every store adapter."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from higgins import events
from higgins.processors import audit
from higgins.processors.audit import Entry, Query
from higgins.store.base import AuditLog
from higgins.store.cassandra import CassandraStore
from tests.contract.conftest import STORES, each_store

C1, C2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AuditLog]:
    yield from each_store(request, tmp_path, CassandraStore.truncate_audit)


def entry(time: str, kind: str = "container.started", subject: str = C1,
          project: str = "p1", request_id: str = "req-1") -> Entry:
    return audit.entry(events.Envelope(
        id=str(uuid.uuid4()), type=kind, subject=subject, seq=1, time=time, project_id=project,
        user_id="u1", request_id=request_id, data={}))


def ids(entries: list[Entry]) -> list[str]:
    return [e["id"] for e in entries]


# Spread over two days and several hours, so listings cross partitions on Cassandra.
TIMES = ["2026-11-23T22:59:59.000001+00:00", "2026-11-23T23:00:00+00:00",
         "2026-11-24T00:30:00+00:00", "2026-11-24T00:30:00.5+00:00", "2026-11-24T09:00:00Z"]


@pytest.fixture
def recorded(store: AuditLog) -> list[Entry]:
    """Five entries of p1's container C1, oldest first, recorded in a shuffled order."""
    entries = [entry(t) for t in TIMES]
    store.record_audit([entries[i] for i in (3, 0, 4, 2, 1)])
    return entries


def test_entries_list_newest_first_or_oldest_first(store: AuditLog,
                                                    recorded: list[Entry]) -> None:
    assert store.audit_entries(Query(project_id="p1")) == recorded[::-1]
    assert store.audit_entries(Query(), oldest_first=True) == recorded
    assert store.audit_entries(Query(target=C1), oldest_first=True) == recorded


def test_an_entry_reads_back_by_its_event_id(store: AuditLog, recorded: list[Entry]) -> None:
    assert store.audit_entry(recorded[2]["id"]) == recorded[2]
    assert store.audit_entry(str(uuid.uuid4())) is None


def test_recording_a_batch_again_changes_nothing(store: AuditLog,
                                                 recorded: list[Entry]) -> None:
    store.record_audit(recorded)
    store.record_audit(recorded[1:3])
    assert store.audit_entries(Query()) == recorded[::-1]
    assert store.audit_entries(Query(project_id="p1", target=C1)) == recorded[::-1]


def test_entries_of_the_same_time_are_ordered_by_event_id(store: AuditLog) -> None:
    same = sorted((entry(TIMES[0]) for _ in range(3)), key=lambda e: e["id"])
    store.record_audit(same)
    assert store.audit_entries(Query(project_id="p1"), oldest_first=True) == same


@pytest.mark.parametrize("oldest_first", [False, True], ids=["newest first", "oldest first"])
@pytest.mark.parametrize("query", [Query(), Query(project_id="p1"), Query(target=C1)],
                         ids=["all projects", "project", "container"])
def test_pages_after_each_marker_make_up_the_whole_listing(
        store: AuditLog, recorded: list[Entry], query: Query, oldest_first: bool) -> None:
    pages, marker = [], None
    while True:
        page = store.audit_entries(query, marker=marker, limit=2, oldest_first=oldest_first)
        if not page:
            break
        pages.append(ids(page))
        marker = page[-1]["id"]
    expected = ids(recorded if oldest_first else recorded[::-1])
    assert pages == [expected[0:2], expected[2:4], expected[4:]]


def test_an_unknown_marker_or_one_of_another_project_is_refused(
        store: AuditLog, recorded: list[Entry]) -> None:
    with pytest.raises(audit.UnknownMarker):
        store.audit_entries(Query(), marker=str(uuid.uuid4()))
    with pytest.raises(audit.UnknownMarker):
        store.audit_entries(Query(project_id="p2"), marker=recorded[0]["id"])


def test_projects_see_their_own_entries_and_all_projects_sees_every_one(
        store: AuditLog, recorded: list[Entry]) -> None:
    theirs = entry(TIMES[2], subject=C2, project="p2")
    store.record_audit([theirs])
    assert store.audit_entries(Query(project_id="p2")) == [theirs]
    assert ids(store.audit_entries(Query(project_id="p1"))) == ids(recorded[::-1])
    assert theirs in store.audit_entries(Query())
    assert store.audit_entries(Query(project_id="p3")) == []


def test_filters_by_target_type_request_and_time(store: AuditLog,
                                                 recorded: list[Entry]) -> None:
    capsule = entry(TIMES[1], "capsule.create.requested", events.capsule_subject(C2))
    failed = entry(TIMES[3], "container.failed", C2, request_id="req-2")
    store.record_audit([capsule, failed])
    assert store.audit_entries(Query(target_kind="capsule", target=C2)) == [capsule]
    assert store.audit_entries(Query(target_kind="container", target=C2)) == [failed]
    assert store.audit_entries(Query(types=("*.failed", "capsule.*"))) == [failed, capsule]
    assert store.audit_entries(Query(project_id="p1", request_id="req-2")) == [failed]
    since, until = audit.time_key(TIMES[1]), audit.time_key(TIMES[3])
    assert ids(store.audit_entries(Query(project_id="p1", since=since, until=until,
                                         target=C1))) == ids(recorded[3:0:-1])


def test_a_sparse_filter_still_fills_its_page_across_partitions(store: AuditLog) -> None:
    noise = [entry(f"2026-11-{day:02d}T{hour:02d}:00:00Z") for day in (20, 21, 22)
             for hour in range(0, 24, 3)]
    wanted = [entry("2026-11-20T01:00:00Z", "container.failed"),
              entry("2026-11-22T23:00:00Z", "container.failed")]
    store.record_audit(noise + wanted)
    for query in (Query(types=("container.failed",)),
                  Query(project_id="p1", types=("container.failed",))):
        assert store.audit_entries(query, limit=2) == wanted[::-1]
        assert store.audit_entries(query, limit=2, oldest_first=True) == wanted
        assert store.audit_entries(query, marker=wanted[1]["id"]) == wanted[:1]
