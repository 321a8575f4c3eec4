"""Capsules in the pure core: the fold, placement of the whole capsule on one host, its
members requested there, deletion of the members, and the status read off the members."""

from __future__ import annotations

from typing import Any

import pytest

from higgins import events
from higgins.agents import sandbox
from higgins.events import EventType
from higgins.processors import capsules
from higgins.processors.model import CapsuleState, ContainerState, Status, TaskState, folded
from tests.unit.conftest import envelope, host, in_status

CAPSULE = "5d8f1b2a-0c11-4f0e-9b59-8f3f43f0a001"
SUBJECT = events.capsule_subject(CAPSULE)
MEMBERS = [
    {"uuid": "5d8f1b2a-0c11-4f0e-9b59-8f3f43f0a002", "name": "capsule-pair-a",
     "image": "busybox:local", "cpu": 0.5, "memory": 64},
    {"uuid": "5d8f1b2a-0c11-4f0e-9b59-8f3f43f0a003", "name": "capsule-pair-b",
     "image": "busybox:local", "command": ["sleep", "9"]},
]
REQUEST: dict[str, Any] = {"name": "pair", "labels": {"app": "web"}, "annotations": {},
                           "restart_policy": {"Name": "always", "MaximumRetryCount": "0"},
                           "containers": MEMBERS}


def requested() -> events.Envelope:
    return envelope(EventType.CAPSULE_CREATE_REQUESTED, 1, subject=SUBJECT, **REQUEST)


def capsule(*later: events.Envelope) -> CapsuleState:
    state = folded(capsules.fold, [requested(), *later])
    assert state is not None
    return state


def test_a_create_request_begins_a_capsule_of_its_members() -> None:
    state = capsule()
    assert (state.uuid, state.name, state.cpu, state.memory) == (CAPSULE, "pair", 0.5, 64)
    assert state.member_uuids == tuple(m["uuid"] for m in MEMBERS)
    assert state.host is None and not state.deleting


def test_a_new_capsule_is_placed_once_and_its_members_requested_on_that_host() -> None:
    outcome = capsules.schedule(capsule(), [host("node-1"), host("node-2", memory_mb=8192)],
                                requested())
    scheduled, *members = outcome.events
    assert (scheduled.type, scheduled.data) == (EventType.CAPSULE_SCHEDULED, {"host": "node-2"})
    assert [(m.type, m.subject) for m in members] == \
        [(EventType.CREATE_REQUESTED, m["uuid"]) for m in MEMBERS]
    first = members[0].data
    assert (first["requested_host"], first["capsule_id"], first["run"]) == \
        ("node-2", CAPSULE, True)
    assert first["restart_policy"] == REQUEST["restart_policy"]
    assert first["labels"] == {"app": "web"} and "uuid" not in first


def test_a_placed_capsule_asks_for_the_same_members_again_not_a_new_host() -> None:
    placed = capsule(envelope(EventType.CAPSULE_SCHEDULED, 2, subject=SUBJECT, host="node-1"))
    outcome = capsules.schedule(placed, [host("node-2", memory_mb=8192)], requested())
    assert [e.type for e in outcome.events] == [EventType.CREATE_REQUESTED] * 2
    assert {e.data["requested_host"] for e in outcome.events} == {"node-1"}


def test_a_capsule_no_host_can_take_fails() -> None:
    outcome = capsules.schedule(capsule(), [host("node-1", memory_mb=32)], requested())
    (failed,) = outcome.events
    assert failed.type == EventType.CAPSULE_FAILED and "RamFilter" in failed.data["reason"]


def test_deleting_a_capsule_force_deletes_each_member() -> None:
    delete = envelope(EventType.CAPSULE_DELETE_REQUESTED, 3, subject=SUBJECT)
    outcome = capsules.schedule(capsule(delete), [], delete)
    assert [(e.type, e.subject, e.data) for e in outcome.events] == \
        [(EventType.DELETE_REQUESTED, m["uuid"], {"force": True, "stop": True}) for m in MEMBERS]


def test_a_create_request_redelivered_after_delete_requests_nothing() -> None:
    deleting = capsule(envelope(EventType.CAPSULE_DELETE_REQUESTED, 2, subject=SUBJECT))
    assert capsules.schedule(deleting, [host("node-1")], requested()).events == ()


def member(status: Status, task: TaskState | None = None) -> ContainerState:
    return in_status(status).evolve(task_state=task)


@pytest.mark.parametrize(
    ("members", "deleting", "expected"),
    [
        pytest.param([None, None], False, "Creating", id="not-yet-requested"),
        pytest.param([member(Status.RUNNING), member(Status.CREATED, TaskState.STARTING)],
                     False, "Creating", id="one-starting"),
        pytest.param([member(Status.RUNNING)] * 2, False, "Running", id="all-running"),
        pytest.param([member(Status.RUNNING), member(Status.STOPPED)], False, "Running",
                     id="one-exited"),
        pytest.param([member(Status.STOPPED)] * 2, False, "Stopped", id="all-stopped"),
        pytest.param([member(Status.RUNNING), member(Status.ERROR)], False, "Error",
                     id="one-failed"),
        pytest.param([member(Status.DELETED), member(Status.RUNNING)], True, "Deleting",
                     id="deleting"),
        pytest.param([member(Status.DELETED)] * 2, True, None, id="gone"),
    ],
)
def test_the_status_is_read_off_the_members(members: list[ContainerState | None],
                                            deleting: bool, expected: str | None) -> None:
    state = capsule().evolve(deleting=deleting)
    assert capsules.status(state, members) == expected


def test_the_sandbox_program_is_a_static_x86_64_executable() -> None:
    program = sandbox.pause_program()
    assert program[:4] == b"\x7fELF" and program[4] == 2 and program[18] == 0x3E
    assert len(program) == 129
