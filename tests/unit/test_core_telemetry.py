"""Telemetry notifications: which action and phase each event is, the payload meters read,
the oslo wire format, and ids derived from the event (a redelivery sends the same message)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from higgins.processors import containers, telemetry
from higgins.processors.model import ContainerState, Status, TaskState
from tests.unit.conftest import created, envelope
from tests.unit.conftest import in_status as _in_status


def in_status(status: Status, **changes: Any) -> ContainerState:
    return _in_status(status).evolve(**changes)


def _after(state: ContainerState, kind: str, seq: int, **data: Any) -> list[Any]:
    event = envelope(kind, seq, **data)
    return telemetry.for_container(state, containers.fold(state, event), event, "nova")


def _types(notes: list[telemetry.Notification]) -> list[str]:
    return [n.event_type for n in notes]


@pytest.mark.parametrize(("before", "kind", "data", "expected"), [
    pytest.param(None, "container.create.requested", {"name": "web", "image": "busybox"},
                 "container.create.start", id="create-start"),
    pytest.param(in_status(Status.RUNNING), "container.stop.requested", {},
                 "container.stop.start", id="stop-start"),
    pytest.param(in_status(Status.RUNNING, task_state=TaskState.STOPPING), "container.stopped",
                 {"exit_code": 0}, "container.stop.end", id="stop-end"),
    pytest.param(in_status(Status.RUNNING, task_state=TaskState.KILLING), "container.stopped",
                 {"exit_code": 137}, "container.kill.end", id="kill-end"),
    pytest.param(in_status(Status.STOPPED, task_state=TaskState.STARTING,
                           launched_at="2026-11-24T00:00:01Z"), "container.started", {},
                 "container.start.end", id="start-end"),
    pytest.param(in_status(Status.RUNNING, task_state=TaskState.REBOOTING,
                           launched_at="2026-11-24T00:00:01Z"), "container.started", {},
                 "container.reboot.end", id="reboot-end"),
    pytest.param(in_status(Status.RUNNING, task_state=TaskState.PAUSING), "container.paused",
                 {}, "container.pause.end", id="pause-end"),
    pytest.param(in_status(Status.DELETING, task_state=TaskState.DELETING),
                 "container.deleted", {}, "container.delete.end", id="delete-end"),
    pytest.param(in_status(Status.RUNNING), "container.updated", {"cpu": 1.0},
                 "container.update.end", id="update-end"),
    pytest.param(in_status(Status.RUNNING), "container.commit.failed", {"reason": "x"},
                 "container.commit.error", id="commit-error"),
    pytest.param(in_status(Status.STOPPED, task_state=TaskState.STARTING,
                           launched_at="2026-11-24T00:00:01Z"), "container.failed",
                 {"reason": "no"}, "container.start.error", id="start-error"),
])
def test_each_lifecycle_step_is_its_actions_start_end_or_error(
        before: ContainerState | None, kind: str, data: dict[str, Any], expected: str) -> None:
    seq = before.seq + 1 if before else 1
    event = envelope(kind, seq, **data)
    after = containers.fold(before, event)
    assert _types(telemetry.for_container(before, after, event)) == [expected]


def test_a_run_create_ends_when_it_first_runs_not_when_created() -> None:
    state = created()  # run=True
    scheduled = containers.fold(state, envelope("container.scheduled", 2, host="h1"))
    assert scheduled is not None
    assert _after(scheduled, "container.created", 3, container_id="c1", host="h1") == []
    made = containers.fold(scheduled, envelope("container.created", 3, container_id="c1",
                                               host="h1"))
    assert made is not None
    assert _types(_after(made, "container.started", 4)) == ["container.create.end"]


def test_a_create_that_fails_is_a_create_error_at_error_priority() -> None:
    notes = _after(created(), "container.failed", 2, reason="image not found")
    assert _types(notes) == ["container.create.error"]
    assert notes[0].priority == "ERROR" and notes[0].payload["fault"] == "image not found"


@pytest.mark.parametrize("kind", ["container.scheduled", "container.renamed"])
def test_internal_steps_send_nothing(kind: str) -> None:
    data = {"host": "h1"} if kind == "container.scheduled" else {"name": "other"}
    assert _after(created(), kind, 2, **data) == []


def test_the_payload_carries_what_meters_need_and_the_billing_times() -> None:
    state = in_status(Status.RUNNING, host="h1", task_state=TaskState.STOPPING,
                      launched_at="2026-11-24T00:00:03Z")
    payload = _after(state, "container.stopped", 2, exit_code=0)[0].payload
    assert payload["uuid"] == state.uuid and payload["project_id"] == "p1"
    assert payload["user_id"] == "u1" and payload["host"] == "h1"
    assert (payload["cpu"], payload["memory"], payload["disk"]) == (0.5, 64, 0)
    assert payload["status"] == "Stopped" and payload["state"] == "stopped"
    assert payload["launched_at"] == "2026-11-24T00:00:03Z"
    assert payload["availability_zone"] == "nova" and payload["runtime"] == "runc"


def test_the_fold_records_launched_at_once_and_deleted_at() -> None:
    state = in_status(Status.CREATED)
    running = containers.fold(state, envelope("container.started", 2))
    again = containers.fold(running, envelope("container.started", 3))
    assert running is not None and again is not None
    assert running.launched_at == "2026-11-24T00:00:02+00:00" == again.launched_at
    gone = containers.fold(again, envelope("container.deleted", 4))
    assert gone is not None and gone.deleted_at == "2026-11-24T00:00:04+00:00"


def test_the_wire_body_is_oslo_messaging_v2_with_the_context() -> None:
    note = telemetry.for_container(None, created(), envelope(
        "container.create.requested", 1, name="web", image="busybox"))[0]
    body = note.body("higgins.h1")
    assert body["oslo.version"] == "2.0"
    message = json.loads(body["oslo.message"])
    assert message["publisher_id"] == "higgins.h1"
    assert message["event_type"] == "container.create.start"
    assert message["priority"] == "INFO"
    assert message["timestamp"] == "2026-11-24 00:00:01.000000"
    assert message["_context_project_id"] == "p1" and message["_context_request_id"] == "req-1"


def test_the_message_id_is_derived_from_the_event() -> None:
    event = envelope("container.create.requested", 1, name="web", image="busybox")
    first = telemetry.for_container(None, created(), event)[0]
    again = telemetry.for_container(None, created(), event)[0]
    other = envelope("container.create.requested", 1, name="web", image="busybox")
    assert first.message_id == again.message_id
    assert first.message_id != telemetry.for_container(None, created(), other)[0].message_id


def test_exists_covers_an_audit_period_once_per_container_and_period() -> None:
    state = in_status(Status.RUNNING)
    note = telemetry.exists(state, "2026-11-24T00:00:00Z", "2026-11-24T01:00:00Z")
    assert note.event_type == "container.exists"
    assert note.payload["audit_period_beginning"] == "2026-11-24T00:00:00Z"
    assert note.payload["audit_period_ending"] == "2026-11-24T01:00:00Z"
    same = telemetry.exists(state, "2026-11-24T00:00:00Z", "2026-11-24T01:00:00Z")
    later = telemetry.exists(state, "2026-11-24T01:00:00Z", "2026-11-24T02:00:00Z")
    assert note.message_id == same.message_id != later.message_id
    assert not telemetry.live(in_status(Status.DELETED))
