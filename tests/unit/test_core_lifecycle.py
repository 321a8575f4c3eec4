"""The lifecycle: Zun's valid-state matrix, and the fold from events to the container view."""

from __future__ import annotations

import itertools

import pytest

from higgins.events import EventType
from higgins.processors import containers
from higgins.processors.model import Action, Refusal, Status, TaskState
from tests.unit.conftest import SPEC, UUID, created, envelope, in_status

MATRIX = list(itertools.product(list(Action), list(Status)))


@pytest.mark.parametrize(("action", "status"), MATRIX, ids=[f"{a}-{s}" for a, s in MATRIX])
def test_an_action_is_allowed_exactly_in_zuns_valid_states(action: Action,
                                                           status: Status) -> None:
    refusal = containers.check(in_status(status), action)
    assert (refusal is None) == (status in containers.VALID_STATES[action])


@pytest.mark.parametrize(
    ("action", "status", "verb"),
    [(Action.STOP, Status.CREATING, "stop"), (Action.DELETE_FORCE, Status.PAUSED, "delete"),
     (Action.DELETE_AFTER_STOP, Status.CREATING, "delete")],
    ids=["stop", "delete-force", "delete-after-stop"],
)
def test_a_refusal_reads_like_zuns(action: Action, status: Status, verb: str) -> None:
    refusal = containers.decide(in_status(status), action)
    assert isinstance(refusal, Refusal)
    assert refusal.detail == f"Cannot {verb} container {UUID} in {status} state."


@pytest.mark.parametrize(
    ("action", "status", "kind", "data"),
    [
        (Action.START, Status.STOPPED, EventType.START_REQUESTED, {}),
        (Action.STOP, Status.RUNNING, EventType.STOP_REQUESTED, {"timeout": 3}),
        (Action.KILL, Status.RUNNING, EventType.KILL_REQUESTED, {"signal": "SIGTERM"}),
        (Action.DELETE, Status.STOPPED, EventType.DELETE_REQUESTED,
         {"force": False, "stop": False}),
        (Action.DELETE_FORCE, Status.RUNNING, EventType.DELETE_REQUESTED,
         {"force": True, "stop": True}),
        (Action.DELETE_AFTER_STOP, Status.RUNNING, EventType.DELETE_REQUESTED,
         {"force": False, "stop": True}),
    ],
    ids=lambda value: str(value) if isinstance(value, Action) else None,
)
def test_an_allowed_action_records_its_request(action: Action, status: Status,
                                               kind: EventType, data: dict[str, object]) -> None:
    params = {k: v for k, v in data.items() if k in ("timeout", "signal")}
    draft = containers.decide(in_status(status), action, params)
    assert not isinstance(draft, Refusal)
    assert (draft.type, draft.subject, draft.data) == (kind, UUID, data)


def test_create_requested_builds_a_creating_container_from_the_spec() -> None:
    state = created()
    assert (state.status, state.task_state) == (Status.CREATING, TaskState.CREATING)
    assert (state.name, state.image, state.command) == ("web", "busybox:local", ("sleep", "9"))
    assert (state.cpu, state.memory, state.run) == (0.5, 64, True)
    assert (state.project_id, state.user_id, state.seq) == ("p1", "u1", 1)
    assert state.environment == SPEC["environment"] and state.labels == SPEC["labels"]


FOLDS = [
    ("container.scheduled", {"host": "h1"}, Status.CREATING, TaskState.CREATING),
    ("container.started", {}, Status.RUNNING, None),
    ("container.stopped", {"exit_code": 3}, Status.STOPPED, None),
    ("container.paused", {}, Status.PAUSED, None),
    ("container.failed", {"reason": "boom"}, Status.ERROR, None),
    ("container.lost", {"reason": "gone"}, Status.ERROR, None),
    ("container.delete.requested", {"force": True, "stop": True}, Status.DELETING,
     TaskState.DELETING),
    ("container.deleted", {}, Status.DELETED, None),
    ("container.stop.requested", {"timeout": 1}, Status.RUNNING, TaskState.STOPPING),
]


@pytest.mark.parametrize(("kind", "data", "status", "task"), FOLDS, ids=[f[0] for f in FOLDS])
def test_each_event_moves_the_view(kind: str, data: dict[str, object], status: Status,
                                   task: TaskState | None) -> None:
    before = in_status(Status.RUNNING) if kind.endswith("requested") else created()
    after = containers.fold(before, envelope(kind, 2, **data))
    assert after is not None
    assert (after.status, after.task_state, after.seq) == (status, task, 2)
    assert after.updated_at == "2026-11-24T00:00:02+00:00"


def test_created_with_run_keeps_starting_and_without_run_settles() -> None:
    created_event = envelope("container.created", 2, container_id="abc", host="h1")
    running = containers.fold(created(run=True), created_event)
    idle = containers.fold(created(run=False), created_event)
    assert running is not None and idle is not None
    assert (running.status, running.task_state) == (Status.CREATED, TaskState.STARTING)
    assert (idle.status, idle.task_state, idle.container_id) == (Status.CREATED, None, "abc")


def test_stopped_records_the_exit_code_and_failure_the_reason() -> None:
    stopped = containers.fold(created(), envelope("container.stopped", 2, exit_code=137))
    failed = containers.fold(created(), envelope("container.failed", 2, reason="no image"))
    assert stopped is not None and stopped.exit_code == 137
    assert failed is not None and failed.status_reason == "no image"


def test_folding_the_same_event_twice_changes_nothing_more() -> None:
    event = envelope("container.started", 2)
    once = containers.fold(created(), event)
    assert containers.fold(once, event) == once


def test_an_event_at_or_below_the_views_seq_is_ignored() -> None:
    state = in_status(Status.RUNNING, seq=5)
    assert containers.fold(state, envelope("container.stopped", 5, exit_code=1)) == state


@pytest.mark.parametrize("kind", ["container.started", "container.stopped", "container.created"])
def test_late_status_news_does_not_resurrect_a_container_being_deleted(kind: str) -> None:
    deleting = in_status(Status.DELETING)
    data = {"container_id": "abc"} if kind == "container.created" else {}
    after = containers.fold(deleting, envelope(kind, 2, **data))
    assert after is not None and after.status is Status.DELETING


def test_lost_while_deleting_means_deleted() -> None:
    after = containers.fold(in_status(Status.DELETING), envelope("container.lost", 2,
                                                                  reason="gone"))
    assert after is not None and after.status is Status.DELETED


def test_fold_all_equals_folding_one_by_one() -> None:
    history = [envelope("container.create.requested", 1, **SPEC),
               envelope("container.scheduled", 2, host="h1"),
               envelope("container.created", 3, container_id="abc"),
               envelope("container.started", 4)]
    one_by_one = None
    for event in history:
        one_by_one = containers.fold(one_by_one, event)
    final = containers.fold_all(None, history)
    assert final == one_by_one
    assert final is not None and (final.status, final.host, final.seq) == (Status.RUNNING, "h1", 4)


def test_events_before_the_create_have_nothing_to_fold_into() -> None:
    assert containers.fold(None, envelope("container.started", 2)) is None


def test_renamed_changes_only_the_name() -> None:
    after = containers.fold(in_status(Status.RUNNING), envelope("container.renamed", 2,
                                                                 name="newname"))
    assert after is not None and (after.name, after.status) == ("newname", Status.RUNNING)


def test_updated_sets_the_limits_it_carries_and_a_failed_update_changes_nothing() -> None:
    before = in_status(Status.RUNNING)
    updated = containers.fold(before, envelope("container.updated", 2, memory=128))
    refused = containers.fold(before, envelope("container.update.failed", 2, reason="no"))
    assert updated is not None and (updated.memory, updated.cpu) == (128, before.cpu)
    assert refused is not None and (refused.memory, refused.status) == (64, Status.RUNNING)


def test_an_update_request_is_routed_to_the_host_as_an_agent_update() -> None:
    placed = in_status(Status.RUNNING, host="h1")
    outcome = containers.route(placed, envelope("container.update.requested", 2, cpu=1.0))
    (command,) = outcome.commands
    assert (command.type, command.host, command.data) == ("agent.container.update", "h1",
                                                          {"cpu": 1.0})
