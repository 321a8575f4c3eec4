"""Zun's rebuild in the pure core: who may, what is recorded, how the view moves, what the agent
is told, and when the action is finished."""

from __future__ import annotations

import pytest

from higgins import events
from higgins.events import CommandType, EventType
from higgins.processors import actions, containers, scheduling
from higgins.processors.model import Action, Refusal, Status, TaskState
from tests.unit.conftest import SPEC, created, envelope, in_status


@pytest.mark.parametrize(("status", "run"), [(Status.RUNNING, True), (Status.STOPPED, False),
                                             (Status.CREATED, False), (Status.ERROR, False)])
def test_a_rebuild_runs_again_what_was_running(status: Status, run: bool) -> None:
    state = in_status(status)
    decided = containers.decide(state, Action.REBUILD, {"image": "httpd:local"})
    assert decided == events.Draft(EventType.REBUILD_REQUESTED, state.uuid,
                                   {"image": "httpd:local", "run": run})


def test_a_paused_container_is_not_rebuilt() -> None:
    refused = containers.decide(in_status(Status.PAUSED), Action.REBUILD)
    assert isinstance(refused, Refusal) and refused.detail.startswith("Cannot rebuild container")


def test_the_view_is_rebuilding_then_running_in_its_new_runtime_container() -> None:
    state = in_status(Status.RUNNING, container_id="old", seq=5, host="h1")
    state = containers.fold(state, envelope(EventType.REBUILD_REQUESTED, 6, image="httpd:local",
                                            run=True))
    assert state is not None
    assert (state.status, state.task_state, state.image) == (
        Status.REBUILDING, TaskState.REBUILDING, "httpd:local")
    state = containers.fold(state, envelope(EventType.REBUILT, 7, container_id="new",
                                            running=True))
    assert state is not None
    assert (state.status, state.task_state, state.container_id) == (Status.RUNNING, None, "new")


def test_the_agent_is_told_the_whole_spec_the_old_container_and_whether_to_start() -> None:
    state = created().evolve(host="h1", container_id="old", image="httpd:local", seq=3)
    outcome = scheduling.schedule(state, [], envelope(EventType.REBUILD_REQUESTED, 4,
                                                      image="httpd:local", run=False))
    (command,) = outcome.commands
    assert (command.type, command.host) == (CommandType.REBUILD, "h1")
    assert command.data["image"] == "httpd:local" and command.data["command"] == SPEC["command"]
    assert (command.data["run"], command.data["container_id"]) == (False, "old")


def test_a_rebuild_is_finished_by_the_rebuilt_event() -> None:
    history = [
        {**envelope(EventType.CREATE_REQUESTED, 1, **SPEC), "request_id": "req-a"},
        {**envelope(EventType.REBUILD_REQUESTED, 2, run=True), "request_id": "req-r"},
        {**envelope(EventType.REBUILT, 3, container_id="new", running=True),
         "request_id": "req-r"},
    ]
    (_, rebuild) = actions.history(history)  # type: ignore[arg-type]
    assert (rebuild.action, rebuild.finish_time, rebuild.message) == (
        "rebuild", history[2]["time"], None)
