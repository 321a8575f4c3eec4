"""The audit record: an entry from each event, and which entries a query asks for."""

from __future__ import annotations

from typing import Any

import pytest

from higgins import events
from higgins.events import EventType
from higgins.processors import audit
from higgins.processors.audit import Outcome, Query
from tests.unit.conftest import SPEC, UUID, envelope

ACTIONS_AND_OUTCOMES = [
    ("container.create.requested", "create", Outcome.PENDING),
    ("container.scheduled", "schedule", Outcome.SUCCESS),
    ("container.created", "create", Outcome.SUCCESS),
    ("container.started", "start", Outcome.SUCCESS),
    ("container.stop.requested", "stop", Outcome.PENDING),
    ("container.kill.requested", "kill", Outcome.PENDING),
    ("container.failed", "fail", Outcome.FAILURE),
    ("container.lost", "lose", Outcome.FAILURE),
    ("container.update.failed", "update", Outcome.FAILURE),
    ("container.commit.failed", "commit", Outcome.FAILURE),
    ("container.renamed", "rename", Outcome.SUCCESS),
    ("container.deleted", "delete", Outcome.SUCCESS),
    ("host.service.updated", "update", Outcome.SUCCESS),
    ("image.pull.failed", "pull", Outcome.FAILURE),
    ("image.delete.requested", "delete", Outcome.PENDING),
    ("capsule.failed", "fail", Outcome.FAILURE),
    # types Higgins does not have yet take the verb their name is built on
    ("volume.attach.requested", "attach", Outcome.PENDING),
    ("volume.detach.error", "detach", Outcome.FAILURE),
    ("network.connected", "connected", Outcome.SUCCESS),
]


@pytest.mark.parametrize(("kind", "action", "outcome"), ACTIONS_AND_OUTCOMES,
                         ids=[row[0] for row in ACTIONS_AND_OUTCOMES])
def test_action_and_outcome_come_from_the_type(kind: str, action: str,
                                               outcome: Outcome) -> None:
    assert (audit.action_of(kind), audit.outcome_of(kind)) == (action, outcome)


def test_every_event_type_has_an_action() -> None:
    assert set(audit.ACTIONS) == {str(kind) for kind in EventType}


TARGETS = [
    (UUID, {"kind": "container", "uuid": UUID}),
    (events.capsule_subject("c-1"), {"kind": "capsule", "uuid": "c-1"}),
    (events.image_subject("i-1"), {"kind": "image", "uuid": "i-1"}),
    # a host's uuid is the one /v1/hosts shows (uuid5 of its name, see api/hosts.py)
    (events.host_subject("node-1"), {"kind": "host", "name": "node-1",
                                     "uuid": "0214aef4-9783-5b73-9978-d5a055a38e3e"}),
]


@pytest.mark.parametrize(("subject", "target"), TARGETS, ids=[t[1]["kind"] for t in TARGETS])
def test_the_target_is_the_subjects_kind_and_uuid(subject: str, target: dict[str, str]) -> None:
    assert dict(audit.target_of(subject)) == target


def test_an_entry_carries_the_initiator_request_and_data() -> None:
    cause = envelope("container.create.requested", 1, **SPEC)
    assert audit.entry(cause) == {
        "id": cause["id"], "type": "container.create.requested", "time": cause["time"],
        "initiator": {"user_id": "u1", "project_id": "p1"}, "action": "create",
        "target": {"kind": "container", "uuid": UUID}, "outcome": "pending",
        "request_id": "req-1", "data": SPEC}


def test_host_heartbeats_are_not_audited() -> None:
    assert not audit.audited(envelope("host.reported", 1, events.host_subject("h")))
    assert audit.audited(envelope("host.service.updated", 1, events.host_subject("h")))


TIMES = [
    ("2026-11-24T10:00:00Z", "2026-11-24T10:00:00.000000Z"),
    ("2026-11-24T10:00:00.123456+00:00", "2026-11-24T10:00:00.123456Z"),
    ("2026-11-24T12:00:00+02:00", "2026-11-24T10:00:00.000000Z"),
    ("2026-11-24T10:00:00", "2026-11-24T10:00:00.000000Z"),  # no offset: UTC
    ("2026-11-24", "2026-11-24T00:00:00.000000Z"),
]


@pytest.mark.parametrize(("text", "key"), TIMES, ids=[t[0] for t in TIMES])
def test_times_become_keys_that_sort_as_time(text: str, key: str) -> None:
    assert audit.time_key(text) == key


def test_an_offsets_plus_left_unencoded_in_a_url_is_understood() -> None:
    assert audit.parse_time("since", "2026-11-24T12:00:00.5 02:00") == \
        "2026-11-24T10:00:00.500000Z"


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00:00Z", "", "1700000000"])
def test_what_is_no_time_is_an_invalid_filter(text: str) -> None:
    with pytest.raises(audit.InvalidFilter, match="RFC 3339"):
        audit.parse_time("since", text)


def test_keys_shift_by_seconds_and_until_is_inclusive() -> None:
    key = "2026-11-24T10:00:00.000000Z"
    assert audit.shifted(key, -1.5) == "2026-11-24T09:59:58.500000Z"
    assert Query(until=key).upper() == "2026-11-24T10:00:00.000001Z"
    assert Query().upper() > "9999" and Query().lower() == ""


def entry(kind: str = "container.started", seq: int = 1, **changes: Any) -> audit.Entry:
    found = audit.entry(envelope(kind, seq))
    return {**found, **changes}  # type: ignore[typeddict-item]


QUERIES = [
    ("anything", Query(), entry(), True),
    ("own project", Query(project_id="p1"), entry(), True),
    ("other project", Query(project_id="p2"), entry(), False),
    ("the container", Query(target_kind="container", target=UUID), entry(), True),
    ("another container", Query(target_kind="container", target="x"), entry(), False),
    ("a capsule by a container's uuid", Query(target_kind="capsule", target=UUID), entry(),
     False),
    ("exact type", Query(types=("container.started",)), entry(), True),
    ("pattern", Query(types=("container.*",)), entry(), True),
    ("suffix pattern", Query(types=("*.failed",)), entry("container.failed"), True),
    ("other type", Query(types=("container.stopped", "image.*")), entry(), False),
    ("request id", Query(request_id="req-1"), entry(), True),
    ("other request id", Query(request_id="req-2"), entry(), False),
    ("since, inclusive", Query(since="2026-11-24T00:00:01.000000Z"), entry(seq=1), True),
    ("before since", Query(since="2026-11-24T00:00:01.000001Z"), entry(seq=1), False),
    ("until, inclusive", Query(until="2026-11-24T00:00:01.000000Z"), entry(seq=1), True),
    ("after until", Query(until="2026-11-24T00:00:00.999999Z"), entry(seq=1), False),
]


@pytest.mark.parametrize(("query", "found", "expected"), [q[1:] for q in QUERIES],
                         ids=[q[0] for q in QUERIES])
def test_a_query_matches_what_it_names(query: Query, found: audit.Entry,
                                       expected: bool) -> None:
    assert audit.matches(query, found) is expected


BAD_TYPES = [
    ("", "must name"),
    ("Container.Started", "not an event type"),
    ("container.started;drop", "not an event type"),
    ("container.nothing", "matches no audited"),
    ("host.reported", "matches no audited"),
]


@pytest.mark.parametrize(("text", "message"), BAD_TYPES, ids=[t[0] or "empty" for t in BAD_TYPES])
def test_bad_type_filters_are_refused(text: str, message: str) -> None:
    with pytest.raises(audit.InvalidFilter, match=message):
        audit.parse_types(text)


def test_type_filters_are_comma_separated_types_or_patterns() -> None:
    assert audit.parse_types("container.*, image.pulled") == ("container.*", "image.pulled")


def test_the_position_orders_by_time_then_id() -> None:
    early, late = entry(seq=1, id="b"), entry(seq=2, id="a")
    same_time = entry(seq=2, id="c")
    assert sorted([same_time, late, early], key=audit.position) == [early, late, same_time]


@pytest.mark.parametrize("subject", [
    "6dca4fc1-a457-487b-9d55-dfbe091a1756", "host:node-1",
    "image:6dca4fc1-a457-487b-9d55-dfbe091a1756",
    "capsule:6dca4fc1-a457-487b-9d55-dfbe091a1756"])
def test_a_targets_subject_is_the_events(subject: str) -> None:
    assert audit.subject_of(audit.target_of(subject)) == subject
